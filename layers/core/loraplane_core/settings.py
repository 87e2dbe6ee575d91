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
    # Deployment (registry decisions -> endpoint)
    endpoint_name: str = ""
    serving_mode: str = "inference-components"  # or "on-demand"
    instance_type: str = "ml.g5.2xlarge"
    instance_count: int = 1
    max_instance_count: int = 1
    execution_role_arn: str = ""
    rollback_alarms: list[str] = []
    deployment_timeout_seconds: int = 3600
    lock_wait_seconds: int = 7200
    smoke_prompt: str = "Hello, who are you?"
    deploy_state_machine_arn: str = ""

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
            endpoint_name=env.get("ENDPOINT_NAME", ""),
            serving_mode=env.get("SERVING_MODE", "inference-components"),
            instance_type=env.get("INSTANCE_TYPE", "ml.g5.2xlarge"),
            instance_count=int(env.get("INSTANCE_COUNT", "1")),
            max_instance_count=int(env.get("MAX_INSTANCE_COUNT", "1")),
            execution_role_arn=env.get("ENDPOINT_EXECUTION_ROLE_ARN", ""),
            rollback_alarms=[a for a in env.get("ROLLBACK_ALARMS", "").split(",") if a],
            deployment_timeout_seconds=int(env.get("DEPLOYMENT_TIMEOUT_SECONDS", "3600")),
            lock_wait_seconds=int(env.get("LOCK_WAIT_SECONDS", "7200")),
            smoke_prompt=env.get("SMOKE_PROMPT", "Hello, who are you?"),
            deploy_state_machine_arn=env.get("DEPLOY_STATE_MACHINE_ARN", ""),
        )

    @property
    def resource_prefix(self) -> str:
        return f"{self.project_name}-{self.project_id}"
