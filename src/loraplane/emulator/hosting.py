"""Local SageMaker hosting: the serving container as a local process, its model data staged from the
emulator's S3. The `sagemaker_hosting` shim decides when containers start and stop; this module
only runs them.

A container is `loraplane serve --sagemaker` (what the image's `serve` entrypoint runs) with
SageMaker's contract: the model artifact unpacked in SM_MODEL_DIR, the port in
SAGEMAKER_BIND_TO_PORT, the Model's PrimaryContainer.Environment, and the emulator's AWS settings
(so the server reads adapters from emulated S3). Output goes to a log file whose path and tail
are part of every failure reason; its EMF lines become CloudWatch metrics, as CloudWatch Logs makes
them of a real container's output (emf.py).
"""
import atexit
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import requests

from .emf import LogMetrics
from .local_aws import CREDENTIALS, REGION, free_port

HEALTH_TIMEOUT = 600.0  # seconds; SageMaker's default ContainerStartupHealthCheckTimeoutInSeconds
STOP_GRACE = 5.0  # SIGTERM, then SIGKILL after this long
REASON_MAX = 1024  # FailureReason's limit in the API


class ContainerFailed(Exception):
    """The container did not become healthy; str() is a FailureReason (log path and tail)."""


class Container:
    """One serving process on a free local port."""

    def __init__(self, label: str, model_dir: str, environment: dict[str, str], log_path: Path):
        self.label, self.model_dir, self.log_path = label, model_dir, log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environment = environment
        self.proc: subprocess.Popen | None = None
        self._gone = False

    def start(self) -> "Container":
        binary = Path(sys.executable).parent / "loraplane"
        env = {**os.environ, **self.environment, "SM_MODEL_DIR": self.model_dir,
               "SAGEMAKER_BIND_TO_PORT": str(self.port), "LORAPLANE_BIND_HOST": "127.0.0.1"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # Own session: stop() signals the whole group, vLLM's helpers included.
            self.proc = subprocess.Popen([str(binary), "serve", "--sagemaker"], stdout=log, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        return self

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT, cancelled=lambda: False) -> None:
        """Polls GET /ping until 200, as SageMaker's health check does; raises ContainerFailed."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ContainerFailed(self.reason(f"the container exited with code {code} before answering /ping"))
            if cancelled():
                raise ContainerFailed(self.reason("the deployment was cancelled"))
            try:
                if requests.get(self.url + "/ping", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise ContainerFailed(self.reason(f"the container did not pass the /ping health check within {timeout:.0f} s"))
            time.sleep(0.5)

    def reason(self, what: str) -> str:
        """A FailureReason: what happened, the log's path and as much of its end as fits."""
        head = f"{what}; log: {self.log_path}"
        # Traceback caret lines take room and say nothing without their source line.
        lines = [ln for ln in self.log_tail().splitlines() if ln.strip(" ^~")]
        tail = ""
        for line in reversed(lines):
            if len(head) + len(tail) + len(line) + 8 > REASON_MAX:
                break
            tail = line + "\n" + tail
        return f"{head}\n...\n{tail.rstrip()}" if tail else head[:REASON_MAX]

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def group_alive(self) -> bool:
        """Whether any process of the container's group (the server, vLLM's engine) still runs.
        Once the group is seen empty its id is never signalled again (ids are reused)."""
        if self.proc is None or self._gone:
            return False
        self.proc.poll()  # reap the leader, or the group lives on as a zombie
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            self._gone = True
            return False

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after STOP_GRACE; returns once every process is gone."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc is None or not self.group_alive():
                return
            _signal_group(self.proc.pid, sig)
            deadline = time.monotonic() + STOP_GRACE
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the group this manager created for the container
    except ProcessLookupError:
        pass


class Hosting:
    """Starts containers, stages model data and adapter artifacts, and stops everything at the end."""

    def __init__(self):
        self.endpoint_url: str | None = None
        self.root: Path | None = None
        self.containers: list[Container] = []  # running
        self.started: list[Container] = []  # every container ever started (tests check none outlives them)
        self._models: dict[str, str] = {}  # artifact URI -> local model dir
        self._lock = threading.RLock()
        self._counter = 0
        self.log_metrics = LogMetrics(self.put_metric_data)

    @property
    def health_timeout(self) -> float:
        return float(os.environ.get("LORAPLANE_HOSTING_HEALTH_TIMEOUT", HEALTH_TIMEOUT))

    def configure(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def workdir(self) -> Path:
        with self._lock:
            if self.root is None:
                home = os.environ.get("LORAPLANE_HOME")
                if home:
                    self.root = Path(home) / "hosting" / f"{os.getpid()}-{int(time.time())}"
                    self.root.mkdir(parents=True, exist_ok=True)
                else:
                    self.root = Path(tempfile.mkdtemp(prefix="loraplane-hosting-"))
            return self.root

    def next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def aws_environment(self, region: str = REGION) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint_url or "", "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
                "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"]}

    def put_metric_data(self, region: str, namespace: str, data: list[dict]) -> None:
        import boto3

        boto3.client("cloudwatch", endpoint_url=self.endpoint_url, region_name=region,
                     **CREDENTIALS).put_metric_data(Namespace=namespace, MetricData=data)

    def s3(self, region: str = REGION):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=region, **CREDENTIALS)

    # -- containers ----------------------------------------------------------------------------
    def start_container(self, label: str, model: dict, region: str = REGION) -> Container:
        """Stages the Model's data and starts its container (not yet healthy: call wait_healthy)."""
        primary = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        model_dir = self.stage_model(primary, region)
        n = self.next_id()
        env = {**self.aws_environment(region), "VLLM_CPU_KVCACHE_SPACE": "1",  # several may run at once
               "LORAPLANE_CACHE_DIR": str(self.workdir() / "adapter-cache" / f"{label}-{n}"),
               # EMF metrics every few seconds, so `loraplane usage` sees an invocation soon (SageMaker: 60)
               "LORAPLANE_METRICS_FLUSH_SECONDS": os.environ.get("LORAPLANE_METRICS_FLUSH_SECONDS", "5"),
               **(primary.get("Environment") or {})}
        container = Container(label, model_dir, env, self.workdir() / "logs" / f"{label}-{n}.log")
        with self._lock:
            self.containers.append(container)
            self.started.append(container)
        self.log_metrics.watch(container.log_path, region)
        return container.start()

    def stop(self, container: Container | None) -> None:
        if container is None:
            return
        container.stop()
        self.log_metrics.forget(container.log_path)  # its last flush, written while stopping
        with self._lock:
            if container in self.containers:
                self.containers.remove(container)

    def stop_all(self) -> None:
        with self._lock:
            running, self.containers = list(self.containers), []
        for c in running:
            try:
                c.stop()
                self.log_metrics.forget(c.log_path)
            except Exception:  # noqa: BLE001 - stop the others anyway
                pass

    # -- artifacts -----------------------------------------------------------------------------
    def stage_model(self, primary: dict, region: str = REGION) -> str:
        """The Model's data as a local folder named `model` (as /opt/ml/model), cached per URI."""
        source = (primary.get("ModelDataSource") or {}).get("S3DataSource")
        uri = source["S3Uri"] if source else primary.get("ModelDataUrl")
        if not uri:
            raise ContainerFailed("the model has no ModelDataSource.S3DataSource.S3Uri or ModelDataUrl")
        compressed = (source or {}).get("CompressionType", "Gzip") != "None" if source else True
        as_prefix = bool(source) and source.get("S3DataType", "S3Prefix") == "S3Prefix" and not compressed
        with self._lock:
            if uri in self._models:
                return self._models[uri]
            dest = self.workdir() / "models" / hashlib.sha256(uri.encode()).hexdigest()[:16] / "model"
            try:
                if as_prefix:
                    self.copy_prefix(uri, dest, region)
                else:
                    self.fetch_archive(uri, dest, region)
            except Exception as e:  # noqa: BLE001 - the deployment fails with the reason
                shutil.rmtree(dest.parent, ignore_errors=True)
                raise ContainerFailed(f"could not download the model data from {uri}: {e}") from e
            self._models[uri] = str(dest)
            return str(dest)

    def stage_artifact(self, uri: str, dest: Path, region: str = REGION) -> Path:
        """An adapter artifact (a .tar.gz object, or a prefix of files) unpacked into `dest`."""
        bucket, key = _split(uri)
        if key.endswith((".tar.gz", ".tgz", ".tar")) or _is_object(self.s3(region), bucket, key):
            self.fetch_archive(uri, dest, region)
        else:
            self.copy_prefix(uri, dest, region)
        if not (dest / "adapter_config.json").exists():  # an archive with one top folder
            inner = [p for p in dest.iterdir() if p.is_dir() and (p / "adapter_config.json").exists()]
            if len(inner) == 1:
                for f in inner[0].iterdir():
                    shutil.move(str(f), dest / f.name)
                inner[0].rmdir()
        return dest

    def copy_prefix(self, uri: str, dest: Path, region: str = REGION) -> None:
        bucket, prefix = _split(uri)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        s3, found = self.s3(region), 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if not rel or rel.endswith("/"):
                    continue
                target = _inside(dest, rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(target))
                found += 1
        if not found:
            raise FileNotFoundError(f"no objects under {uri}")

    def fetch_archive(self, uri: str, dest: Path, region: str = REGION) -> None:
        bucket, key = _split(uri)
        dest.mkdir(parents=True, exist_ok=True)
        archive = dest.parent / f".{dest.name}.download"
        self.s3(region).download_file(bucket, key, str(archive))
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(dest, filter="data")  # refuses absolute paths, '..' and links outside
        finally:
            archive.unlink(missing_ok=True)


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3":
        raise ValueError(f"not an s3:// URI: {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


def _is_object(s3, bucket: str, key: str) -> bool:
    if not key or key.endswith("/"):
        return False
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception:  # noqa: BLE001 - 404: a prefix
        return False


def _inside(root: Path, rel: str) -> Path:
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"object key escapes the model folder: {rel}")
    return target


_manager = Hosting()
atexit.register(_manager.stop_all)


def manager() -> Hosting:
    """The process-wide manager (moto's backends are process-global too)."""
    return _manager


def stop_all() -> None:
    """Stops every container this process started (Emulator.stop() and interpreter exit call it)."""
    _manager.stop_all()

