"""The SageMaker model registry: adapter and base model package versions. (The base an adapter is
validated against is approved_bases.deployed_base_model.)"""
import hashlib

from loraplane_core.ingest.payloads import Registration, ValidationResult
from loraplane_core.ingest.training_metadata import metadata_properties, package_fields

CONTENT_TYPES = ["application/json"]


def base_model_uri(package: dict) -> str:
    container = package["InferenceSpecification"]["Containers"][0]
    source = container.get("ModelDataSource", {}).get("S3DataSource", {})
    return source.get("S3Uri") or container["ModelDataUrl"]


def adapter_metadata(v: ValidationResult) -> dict[str, str]:
    training = metadata_properties(v.training) if v.training else {}
    return training | {
        "adapter_name": v.adapter_name or "",
        "base_model": v.base_model or "",
        "rank": str(v.rank),
        "target_modules": ",".join(v.target_modules),
        "sha256": v.sha256 or "",
        "source": v.source or "",
        "size_bytes": str(v.size_bytes),
    }


def register_adapter(sm, group: str, image: str, v: ValidationResult, auto_approve: bool) -> Registration:
    # ClientToken makes SageMaker itself drop a retried create of the same adapter weights.
    token = hashlib.sha256(f"{group}/{v.adapter_name}/{v.sha256}".encode()).hexdigest()[:36]
    status = "Approved" if auto_approve else "PendingManualApproval"
    resp = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"LoRA adapter {v.adapter_name} (r={v.rank}) for {v.base_model}",
        InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": v.artifact_uri}],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": CONTENT_TYPES,
        },
        ModelApprovalStatus=status,
        CustomerMetadataProperties=adapter_metadata(v),
        ClientToken=token,
        **(package_fields(v.training) if v.training else {}),
    )
    arn = resp["ModelPackageArn"]
    described = sm.describe_model_package(ModelPackageName=arn)
    return Registration(package_arn=arn, package_version=described.get("ModelPackageVersion", 0), approval_status=status)


def register_base_model(sm, group: str, image: str, name: str, model_s3_uri: str) -> str:
    """A base model package pointing at an uncompressed Hugging Face model directory in S3."""
    resp = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"Base model {name}",
        InferenceSpecification={
            "Containers": [{
                "Image": image,
                "ModelDataSource": {"S3DataSource": {
                    "S3Uri": model_s3_uri.rstrip("/") + "/", "S3DataType": "S3Prefix", "CompressionType": "None",
                }},
            }],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": CONTENT_TYPES,
        },
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"base_model": name},
    )
    return resp["ModelPackageArn"]
