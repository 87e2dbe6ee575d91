"""Starts moto in server mode on 127.0.0.1 with the shims installed."""
import logging
import os

import boto3
from botocore.config import Config

from .local_aws import CREDENTIALS, REGION, ensure_port_free, free_port


class Emulator:
    """One moto server per process: moto's backends are process-global."""

    def __init__(self, port: int = 0, region: str = REGION):
        self.port = port or free_port()
        self.region = region
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = None

    def start(self) -> "Emulator":
        ensure_port_free("127.0.0.1", self.port)  # before anything is set up for it: a taken port fails at once
        from moto.core.config import default_user_config
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        from . import hosting
        from .shims import alarm_evaluation, eventbridge_targets, install_all, lambda_runtime

        # Request logs and the interpreter's tracebacks of failed executions would drown the output;
        # failures stay visible in the execution history and the catalog.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        # moto's Step Functions interpreter calls other services at localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        install_all(self.url)
        lambda_runtime.environments().reopen()  # after an earlier emulator of this process stopped
        eventbridge_targets.set_endpoint(self.url)
        hosting.manager().configure(self.url)  # local SageMaker containers read S3 through this emulator
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        alarm_evaluation.evaluator().start()  # LORAPLANE_ALARM_INTERVAL_S
        return self

    def stop(self) -> None:
        from . import hosting
        from .shims import alarm_evaluation, lambda_runtime, sagemaker_async

        # First no alarm round and no new requests, then no queued asynchronous request, no Lambda starting a
        # container, then no container; last the asynchronous workers, whose calls ended with the containers.
        alarm_evaluation.evaluator().stop()
        if self._server:
            self._server.stop()
            self._server = None
        workers = sagemaker_async.stop()
        lambda_runtime.environments().stop_all()  # Lambda execution environments outlive no emulator
        hosting.stop_all()  # nor do the local SageMaker containers
        sagemaker_async.join(workers)

    def environment(self) -> dict[str, str]:
        """What the aws CLI and boto3 need to talk to this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.url, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        }

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name=self.region,
                            config=Config(retries={"max_attempts": 2}), **CREDENTIALS)

    def resource(self, service: str):
        return boto3.resource(service, endpoint_url=self.url, region_name=self.region, **CREDENTIALS)
