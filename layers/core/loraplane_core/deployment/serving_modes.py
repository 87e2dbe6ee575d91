"""Making an adapter version live, or not, on the endpoint, in the stack's serving mode.

- inference-components: one adapter inference component per adapter on the base component
  (`BaseInferenceComponentName`, `Container.ArtifactUrl`); SageMaker hands the artifact to the
  container's POST /adapters.
- on-demand: the container resolves adapters from the live prefix `live/<name>/adapter.tar.gz`
  and serves only what `live/manifest.json` lists (it re-reads the manifest every few seconds).
- async: the same container and live prefix behind an asynchronous endpoint (InvokeEndpointAsync:
  requests and answers in S3, async_inference.py); it has no inference components, and a request
  names its adapter as on-demand does.
"""
import datetime
import logging
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from loraplane_core.adapters.instance_reports import (
    MAX_REPORT_BYTES,
    REPORTS_PREFIX,
    InstanceReport,
    WrittenReport,
    is_fresh,
    parse_report,
    readiness,
)
from loraplane_core.adapters.live_manifest import (
    DEFAULT_TTL_SECONDS,
    EMPTY,
    MANIFEST_KEY,
    LiveAdapter,
    Manifest,
    live_key,
)
from loraplane_core.aws import AwsClients
from loraplane_core.endpoint_names import (
    adapter_component,
    adapter_of_component,
    base_component,
    prefix_of_endpoint,
    project_tags,
)
from loraplane_core.sagemaker_gateway import describe
from loraplane_core.settings import MODEL_VARIANT_MODES, Settings

logger = logging.getLogger(__name__)
MAX_REPORTS = 1000  # prefetch reports read per status check: far above any endpoint's instance count
IGNORED_REPORTS: set[str] = set()  # keys already logged as ignored, while this Lambda environment lives
# expired meanwhile; written with a key of its own (SSE-C, a KMS key we may not use); archived
UNREADABLE_REPORT = {"NoSuchKey", "AccessDenied", "KMS.AccessDeniedException", "InvalidRequest",
                     "InvalidObjectState"}

def invoke_args(serving_mode: str, endpoint: str, adapter: str | None) -> dict:
    """The InvokeEndpoint arguments that reach an adapter (or, with None, the base model); async:
    those of InvokeEndpointAsync, besides the InputLocation of each request."""
    if serving_mode in MODEL_VARIANT_MODES:
        return {"EndpointName": endpoint, **({"CustomAttributes": f"adapter={adapter}"} if adapter else {})}
    component = adapter_component(endpoint, adapter) if adapter else base_component(prefix_of_endpoint(endpoint))
    return {"EndpointName": endpoint, "InferenceComponentName": component}


def sha_of_artifact(uri: str | None) -> str | None:
    parts = (uri or "").split("/")
    return parts[-2] if len(parts) >= 3 and parts[-1] == "adapter.tar.gz" else None


class InferenceComponents:
    mode = "inference-components"

    def __init__(self, sm, endpoint: str, prefix: str, tags: list[dict[str, str]] | None = None):
        self.sm, self.endpoint, self.base, self.tags = sm, endpoint, base_component(prefix), tags or []

    def component(self, adapter: str) -> str:
        return adapter_component(self.endpoint, adapter)

    def describe(self, name: str) -> dict | None:
        return describe(self.sm.describe_inference_component, InferenceComponentName=name)

    def base_ready(self) -> bool:
        base = self.describe(self.base)
        return bool(base) and base["InferenceComponentStatus"] == "InService"

    def apply(self, adapter: str, artifact_uri: str, entry: LiveAdapter) -> None:  # entry: on-demand only
        name = self.component(adapter)
        existing = self.describe(name)
        spec = {"BaseInferenceComponentName": self.base, "Container": {"ArtifactUrl": artifact_uri}}
        if existing is None:
            self.sm.create_inference_component(InferenceComponentName=name, EndpointName=self.endpoint,
                                               VariantName="AllTraffic", Specification=spec,
                                               Tags=[{"Key": "loraplane:adapter", "Value": adapter}, *self.tags])
        elif existing["Specification"].get("Container", {}).get("ArtifactUrl") != artifact_uri \
                or existing["InferenceComponentStatus"] == "Failed":
            self.sm.update_inference_component(InferenceComponentName=name, Specification=spec)

    def status(self, adapter: str, artifact_uri: str | None = None) -> tuple[str, str | None]:
        d = self.describe(self.component(adapter))
        if d is None:
            return "Missing", None
        served = d["Specification"].get("Container", {}).get("ArtifactUrl")
        if d["InferenceComponentStatus"] == "InService" and artifact_uri and served != artifact_uri:
            # SageMaker rolled the update back: the component serves the artifact it had before.
            return "Failed", f"rolled back to {served}: {d.get('FailureReason') or 'update failed'}"
        return d["InferenceComponentStatus"], d.get("FailureReason")

    def statuses(self, wanted: dict[str, str | None]) -> dict[str, tuple[str, str | None]]:
        return {adapter: self.status(adapter, uri) for adapter, uri in wanted.items()}

    def remove(self, adapter: str) -> None:
        if self.describe(self.component(adapter)) is not None:
            self.sm.delete_inference_component(InferenceComponentName=self.component(adapter))

    def live(self) -> dict[str, str | None]:
        """adapter -> sha256 of the weights each adapter component serves (from the
        content-addressed artifact key artifacts/<name>/<sha256>/adapter.tar.gz)."""
        out, kwargs = {}, {"EndpointNameEquals": self.endpoint}
        while True:
            page = self.sm.list_inference_components(**kwargs)
            for ic in page.get("InferenceComponents", []):
                adapter = adapter_of_component(self.endpoint, ic["InferenceComponentName"])
                d = self.describe(ic["InferenceComponentName"]) if adapter else None
                if d and d["Specification"].get("BaseInferenceComponentName") \
                        and d["InferenceComponentStatus"] in ("InService", "Creating", "Updating"):
                    out[adapter] = sha_of_artifact(d["Specification"].get("Container", {}).get("ArtifactUrl"))
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def invoke_args(self, adapter: str | None) -> dict:
        return invoke_args(self.mode, self.endpoint, adapter)


class OnDemand:
    mode = "on-demand"

    def __init__(self, sm, s3, endpoint: str, bucket: str):
        self.sm, self.s3, self.endpoint, self.bucket = sm, s3, endpoint, bucket

    def base_ready(self) -> bool:
        endpoint = describe(self.sm.describe_endpoint, EndpointName=self.endpoint)
        # Updating: auto scaling or a base model update; the model container still serves
        return endpoint is not None and endpoint["EndpointStatus"] in ("InService", "Updating")

    def manifest(self) -> Manifest:
        return self.tagged_manifest()[0]

    def tagged_manifest(self) -> tuple[Manifest, str | None]:
        """The manifest and its ETag (None: there is none)."""
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=MANIFEST_KEY)
        except self.s3.exceptions.NoSuchKey:
            return EMPTY.model_copy(deep=True), None
        try:
            return Manifest.model_validate_json(resp["Body"].read()), resp.get("ETag")
        except ValueError:  # pydantic's ValidationError too: containers serve nothing from it either
            logger.warning("live manifest s3://%s/%s is malformed: rewritten from scratch", self.bucket, MANIFEST_KEY)
            return EMPTY.model_copy(deep=True), resp.get("ETag")

    def write_manifest(self, manifest: Manifest) -> None:
        manifest.updated_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.s3.put_object(Bucket=self.bucket, Key=MANIFEST_KEY, ContentType="application/json",
                           Body=manifest.model_dump_json(indent=1, exclude_none=True).encode())

    def apply(self, adapter: str, artifact_uri: str, entry: LiveAdapter) -> None:
        # Files first, then the manifest: the container refetches when the sha256 it holds differs.
        src = urlparse(artifact_uri)
        self.s3.copy_object(Bucket=self.bucket, Key=live_key(adapter),
                            CopySource={"Bucket": src.netloc, "Key": src.path.lstrip("/")})
        manifest = self.manifest()
        manifest.adapters[adapter] = entry
        self.write_manifest(manifest)

    def status(self, adapter: str, artifact_uri: str | None = None) -> tuple[str, str | None]:
        """In service once every serving instance reports that its prefetch took up this manifest
        (instance_reports.readiness). Containers that report nothing: once every container has
        re-read the manifest (they keep it for DEFAULT_TTL_SECONDS; until twice that has passed one
        may still serve the previous version, and a smoke test would test that one)."""
        return self.statuses({adapter: artifact_uri})[adapter]

    def statuses(self, wanted: dict[str, str | None]) -> dict[str, tuple[str, str | None]]:
        """status() of several adapters (a batch: one manifest, which instances take up in one pass)
        from one read of the manifest, the reports and the endpoint."""
        manifest, etag = self.tagged_manifest()
        if not any(a in manifest.adapters for a in wanted):
            return {a: ("Missing", None) for a in wanted}
        now = datetime.datetime.now(datetime.timezone.utc)
        written = datetime.datetime.fromisoformat((manifest.updated_at or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))
        settled = now >= written + datetime.timedelta(seconds=2 * DEFAULT_TTL_SECONDS + 1)
        reports = self.reports(now)
        # without reports the timer decides: ask only while it has not, for an endpoint scaled to zero
        instances = self.instances() if reports or not settled else None
        return {a: readiness(a, manifest.adapters[a].sha256, etag, reports, instances, now, settled)
                if a in manifest.adapters else ("Missing", None) for a in wanted}

    def instances(self) -> int | None:
        """What the endpoint runs now (None: not known yet)."""
        endpoint = describe(self.sm.describe_endpoint, EndpointName=self.endpoint)
        counts = [v.get("CurrentInstanceCount") for v in (endpoint or {}).get("ProductionVariants") or []]
        return None if not counts or None in counts else sum(counts)

    def reports(self, now: datetime.datetime) -> list[WrittenReport]:
        """The containers' prefetch reports written lately (`is_fresh`; older ones: stopped
        instances, not read). At most MAX_REPORTS; one that is too large, unreadable (e.g. written
        with a key of its own) or not a report is ignored, and logged once."""
        found, paginator = [], self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=REPORTS_PREFIX,
                                       PaginationConfig={"MaxItems": MAX_REPORTS}):
            for o in page.get("Contents", []):
                if not is_fresh(o["LastModified"], now):
                    continue
                report = self.read_report(o["Key"]) if o["Size"] <= MAX_REPORT_BYTES else None
                if report is None:
                    if o["Key"] not in IGNORED_REPORTS and len(IGNORED_REPORTS) < MAX_REPORTS:  # once, bounded
                        logger.warning("prefetch report s3://%s/%s ignored: over %d bytes, unreadable or not a "
                                       "report", self.bucket, o["Key"], MAX_REPORT_BYTES)
                        IGNORED_REPORTS.add(o["Key"])
                    continue
                found.append(WrittenReport(report, o["LastModified"]))
        return found

    def read_report(self, key: str) -> InstanceReport | None:
        """None for a report this role can never read; throttling and 5xx raise (the step retries)."""
        try:
            return parse_report(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read(MAX_REPORT_BYTES + 1))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in UNREADABLE_REPORT:
                return None
            raise

    def remove(self, adapter: str) -> None:
        manifest = self.manifest()
        if manifest.adapters.pop(adapter, None) is not None:
            self.write_manifest(manifest)  # the manifest first: from now on the container refuses it
        self.s3.delete_object(Bucket=self.bucket, Key=live_key(adapter))

    def live(self) -> dict[str, str | None]:
        return {name: e.sha256 for name, e in self.manifest().adapters.items()}

    def invoke_args(self, adapter: str | None) -> dict:
        return invoke_args(self.mode, self.endpoint, adapter)


class Async(OnDemand):
    """Adapters exactly as on-demand; only the endpoint config (AsyncInferenceConfig) and the way
    requests reach it differ."""
    mode = "async"


def serving_mode(c: AwsClients, s: Settings):
    if s.serving_mode == "async":
        return Async(c.sagemaker, c.s3, s.endpoint_name, s.adapter_bucket)
    if s.serving_mode == "on-demand":
        return OnDemand(c.sagemaker, c.s3, s.endpoint_name, s.adapter_bucket)
    return InferenceComponents(c.sagemaker, s.endpoint_name, s.resource_prefix, project_tags(s.project_name, s.project_id))
