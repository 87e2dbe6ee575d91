"""Step Functions executions reuse what does not change between them: the parsed definition and the
boto3 clients the interpreter calls services with.

moto's interpreter parses the state machine's definition with its ANTLR parser (pure Python) at the
start of every execution and builds a new boto3 client for every Lambda task; under a burst of
uploads that was most of the emulator's CPU (benchmarks/control_plane_burst.py). A parsed program
keeps no execution state (states hold their declarations; the run's state lives in the execution's
Environment), except Map and Parallel states, whose runs record into their components: definitions
with either are parsed per execution as before. Clients are thread-safe (botocore), so one per
service and region serves every execution. LORAPLANE_EXECUTION_REUSE=0 turns both off (to measure).
"""
import functools
import os
import sys

CACHED_DEFINITIONS = 64  # distinct definitions kept parsed (a stack has two)
POOL = 64  # connections per shared client: as many tasks as may run at once


def reusable(definition: str) -> bool:
    """No Map or Parallel state: nothing in the parsed program changes while an execution runs."""
    return '"Map"' not in definition and '"Parallel"' not in definition


@functools.lru_cache(maxsize=CACHED_DEFINITIONS)
def _parsed(definition: str):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return settled(AmazonStateLanguageParser.parse(definition)[0])


def components(program):
    """Every moto component reachable from `program` (through attributes, lists and dicts), once."""
    from moto.stepfunctions.parser.asl.component.component import Component

    seen, todo = set(), [program]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Component):
            yield item
            todo.extend(vars(item).values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            todo.extend(item)
        elif isinstance(item, dict):
            todo.extend(item.values())


def settled(program):
    """Gives every component its heap key now: moto draws one lazily, unlocked, on first use, and two
    executions sharing the program could each draw one (the retriers' attempt counts live under it)."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    for component in components(program):
        if isinstance(component, EvalComponent):
            component.heap_key  # noqa: B018 - the property draws and keeps the key
    return program


@functools.lru_cache(maxsize=None)
def _client(region: str, service: str, endpoint_url: str | None):
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    # The same settings as moto's boto_client_for, with a pool for concurrent executions.
    return boto3.client(
        service_name=service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1},
                      connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                      read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS, max_pool_connections=POOL),
        **({"endpoint_url": endpoint_url} if endpoint_url else {}))


def install() -> None:
    if os.environ.get("LORAPLANE_EXECUTION_REUSE", "1") == "0":
        return
    import importlib

    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original_entrypoint, original_client = ExecutionWorker._get_evaluation_entrypoint, boto_client.boto_client_for

    def _get_evaluation_entrypoint(self):
        definition = self._evaluation_details.state_machine_details.definition
        return _parsed(definition) if reusable(definition) else original_entrypoint(self)

    def boto_client_for(region: str, service: str, state_credentials=None):
        # moto's own ignores state_credentials (every task passes the execution's role; nothing assumes it).
        endpoint = None if botocore_stubber.enabled else f"http://localhost:{moto_server_port()}"
        return _client(region, service, endpoint)

    ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint
    # Each interpreter module imported the function by name: load them all (the factory imports every
    # service integration, as does the Map state's S3 reader and writer), then replace each reference.
    for loaded in ("state.exec.state_task.service.state_task_service_factory",
                   "state.exec.state_task.lambda_eval_utils",
                   "state.exec.state_map.item_reader.eval.resource_eval_s3",
                   "state.exec.state_map.result_writer.resource_eval.resource_eval_s3"):
        importlib.import_module(f"moto.stepfunctions.parser.asl.component.{loaded}")
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is original_client:
            module.boto_client_for = boto_client_for
