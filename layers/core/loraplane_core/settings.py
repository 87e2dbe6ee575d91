"""Configuration of the control-plane Lambdas, read once from their environment."""
import os

from pydantic import BaseModel


class Settings(BaseModel):
    project_name: str
    project_id: str
    adapter_bucket: str
    catalog_table: str
    idempotency_table: str
    topic_arn: str
    adapter_group: str
    base_group: str
    serving_image_uri: str
    max_lora_rank: int = 64
    max_adapter_bytes: int = 512 * 1024 * 1024
    auto_approve_adapters: bool = False
    upload_grace_seconds: int = 300

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        return cls(
            project_name=env["PROJECT_NAME"],
            project_id=env["PROJECT_ID"],
            adapter_bucket=env["ADAPTER_BUCKET"],
            catalog_table=env["CATALOG_TABLE"],
            idempotency_table=env["IDEMPOTENCY_TABLE"],
            topic_arn=env["TOPIC_ARN"],
            adapter_group=env["ADAPTER_MODEL_PACKAGE_GROUP"],
            base_group=env["BASE_MODEL_PACKAGE_GROUP"],
            serving_image_uri=env["SERVING_IMAGE_URI"],
            max_lora_rank=int(env.get("MAX_LORA_RANK", "64")),
            max_adapter_bytes=int(env.get("MAX_ADAPTER_BYTES", str(512 * 1024 * 1024))),
            auto_approve_adapters=env.get("AUTO_APPROVE_ADAPTERS", "false").lower() == "true",
            upload_grace_seconds=int(env.get("UPLOAD_GRACE_SECONDS", "300")),
        )
