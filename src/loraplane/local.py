"""The local stack: emulator up, template deployed, optionally a tiny base model approved."""
import os
import time
from dataclasses import dataclass

from .emulator.deploy import deploy_stack, local_parameters
from .emulator.server import Emulator
from .local_state import home  # where local files live: one definition, shared with `local down`/`env`
from .progress import Steps
from .stack import DEFAULT_STACK

LOCAL_STACK = DEFAULT_STACK  # what the CLI reads when LORAPLANE_STACK is unset
# Local uploads are quick: wait 20 s (not 5 min) for the second file of an upload.
LOCAL_OVERRIDES = {"UploadGraceSeconds": "20", "MaxLoraRank": "16"}


@dataclass
class LocalStack:
    emulator: Emulator
    outputs: dict[str, str]
    parameters: dict[str, str]
    deploy_seconds: float


def up(port: int = 0, stack: str = LOCAL_STACK, steps: Steps | None = None) -> LocalStack:
    """`steps`: progress lines (stderr), the deployment's heartbeat among them; quiet without."""
    steps = steps or Steps(quiet=True)
    t0 = time.perf_counter()
    steps(f"Starting the AWS emulator on port {port or 'any free'} ...")
    emulator = Emulator(port=port).start()
    os.environ.update(emulator.environment())  # this process's boto3 clients talk to the emulator
    params = local_parameters(**LOCAL_OVERRIDES)
    steps(f"Deploying template.yaml as stack {stack} (seconds to a minute) ...")
    with steps.waiting("deploying"):
        outputs = deploy_stack(emulator, stack, params)
    steps(f"Deployed {stack} in {time.perf_counter() - t0:.1f}s")
    return LocalStack(emulator, outputs, params, time.perf_counter() - t0)


def tiny_base_model_dir() -> str:
    """Builds the tiny base model once and reuses it."""
    from .dev.tiny import DEFAULT_NAME, build_tiny_model

    path = os.path.join(home(), "models", DEFAULT_NAME)
    if not os.path.exists(os.path.join(path, "model.safetensors")):
        build_tiny_model(path)
    return path


def register_tiny_base(local: LocalStack) -> str:
    import boto3

    from .base_models import register
    from .dev.tiny import base_name_of

    session = boto3.Session(region_name=local.emulator.region, aws_access_key_id="testing",
                            aws_secret_access_key="testing")
    model_dir = tiny_base_model_dir()
    return register(session, local.outputs, base_name_of(model_dir), local.parameters["ServingImageUri"],
                    model_dir=model_dir, approve=True)
