"""The steps of the ingest state machine after validation (register, record, and the adapter name
notify reports), as plain functions over boto3 clients. Validation is ingest/validate.py: these
functions' cold starts do not import the adapter checks and their archive, S3 staging and base
model reads (docs/benchmarks.md)."""
from loraplane_core import catalog
from loraplane_core.adapters.upload_layout import parse_upload_key
from loraplane_core.aws import AwsClients
from loraplane_core.ingest import registry
from loraplane_core.ingest.payloads import ObjectCreated, RecordRequest, Registration, ValidationResult
from loraplane_core.settings import Settings


def upload_key(event: ObjectCreated) -> str:
    return event.detail.object.key


def adapter_name_of(req: RecordRequest) -> str:
    if req.validation and req.validation.adapter_name:
        return req.validation.adapter_name
    parsed = parse_upload_key(upload_key(req.event))
    return parsed.adapter_name if parsed else "(unknown)"


def register_version(c: AwsClients, s: Settings, v: ValidationResult) -> Registration:
    assert v.outcome == "valid" and v.adapter_name and v.sha256
    existing = catalog.find_version(c.catalog, v.adapter_name, v.sha256)
    if existing:  # a replay long after the first registration
        return Registration(package_arn=existing["package_arn"], package_version=int(existing["package_version"]),
                            approval_status=existing["approval_status"])
    return registry.register_adapter(c.sagemaker, s.adapter_group, s.serving_image_uri, v, s.auto_approve_adapters)


def record(c: AwsClients, req: RecordRequest) -> bool:
    return catalog.put_once(c.catalog, catalog.item_for(req, adapter_name_of(req)))
