"""The `detail` of a "SageMaker Model Package State Change" event built from DescribeModelPackage
(what AWS sends): for events the reconciler replays, and for the emulator, which sends them."""
import datetime

DETAIL_KEYS = ("ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn", "ModelPackageName", "CreationTime",
               "InferenceSpecification", "ModelPackageStatus", "ModelPackageStatusDetails", "CertifyForMarketplace",
               "ModelApprovalStatus", "ApprovalDescription", "MetadataProperties", "ModelMetrics",
               "CustomerMetadataProperties", "LastModifiedTime")


def _json_safe(value):
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def package_event_detail(described: dict) -> dict:
    return {k: _json_safe(described[k]) for k in DETAIL_KEYS if described.get(k) is not None}
