"""Configuration of the control-plane Lambdas, read once from their environment at cold start.

Each field names its environment variable (the template's Globals set them for every function);
a handler whose variable is missing or malformed fails at import with `MissingSettings`, naming
it, instead of a late KeyError or an empty endpoint name deep in a deployment. Handlers that need
more than the shared settings use a subclass (LockSettings, ReconcileSettings)."""
import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loraplane_core.adapters import rate_limits


# ServingMode values that put one model (the container that loads adapters from live/) on the endpoint's
# variant; inference-components puts the base and each adapter in inference components instead.
MODEL_VARIANT_MODES = frozenset({"on-demand", "async"})


class MissingSettings(RuntimeError):
    """An environment variable the handler needs is missing or invalid."""


class Settings(BaseModel):
    # Built on first use: a handler builds only the settings class it reads (Lambda cold start).
    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)

    project_name: str = Field(alias="PROJECT_NAME", min_length=1)
    project_id: str = Field(alias="PROJECT_ID", min_length=1)
    adapter_bucket: str = Field(alias="ADAPTER_BUCKET", min_length=1)
    catalog_table: str = Field(alias="CATALOG_TABLE", min_length=1)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    topic_arn: str = Field(alias="TOPIC_ARN", min_length=1)
    adapter_group: str = Field(alias="ADAPTER_MODEL_PACKAGE_GROUP", min_length=1)
    base_group: str = Field(alias="BASE_MODEL_PACKAGE_GROUP", min_length=1)
    serving_image_uri: str = Field(alias="SERVING_IMAGE_URI", min_length=1)
    max_lora_rank: int = Field(64, alias="MAX_LORA_RANK", gt=0)
    max_adapter_bytes: int = Field(512 * 1024 * 1024, alias="MAX_ADAPTER_BYTES", gt=0)
    auto_approve_adapters: bool = Field(False, alias="AUTO_APPROVE_ADAPTERS")
    upload_grace_seconds: int = Field(300, alias="UPLOAD_GRACE_SECONDS", ge=0)
    # Deployment (registry decisions -> endpoint)
    endpoint_name: str = Field(alias="ENDPOINT_NAME", min_length=1)
    serving_mode: Literal["inference-components", "on-demand", "async"] = Field("inference-components",
                                                                                alias="SERVING_MODE")
    instance_type: str = Field("ml.g5.2xlarge", alias="INSTANCE_TYPE", min_length=1)
    instance_count: int = Field(1, alias="INSTANCE_COUNT", gt=0)
    max_instance_count: int = Field(1, alias="MAX_INSTANCE_COUNT", gt=0)
    # inference-components and async modes (AWS scales only those endpoints to zero); ignored on-demand
    scale_to_zero: bool = Field(False, alias="SCALE_TO_ZERO")
    # async mode: the SNS topics of AsyncInferenceConfig.NotificationConfig (set on the function that creates it)
    async_success_topic_arn: str = Field("", alias="ASYNC_SUCCESS_TOPIC_ARN")
    async_error_topic_arn: str = Field("", alias="ASYNC_ERROR_TOPIC_ARN")
    execution_role_arn: str = Field(alias="ENDPOINT_EXECUTION_ROLE_ARN", min_length=1)
    rollback_alarms: tuple[str, ...] = Field((), alias="ROLLBACK_ALARMS")
    deployment_timeout_seconds: int = Field(3600, alias="DEPLOYMENT_TIMEOUT_SECONDS", gt=0)
    smoke_prompt: str = Field("Hello, who are you?", alias="SMOKE_PROMPT", min_length=1)
    # Every adapter's default rate limits in the serving container (0: unlimited); a version's metadata overrides
    adapter_rps: float = Field(0.0, alias="ADAPTER_RPS")
    adapter_tpm: int = Field(0, alias="ADAPTER_TPM")

    @field_validator("rollback_alarms", mode="before")
    @classmethod
    def comma_separated(cls, value):
        return tuple(a for a in value.split(",") if a) if isinstance(value, str) else value

    @field_validator("adapter_rps", mode="before")
    @classmethod
    def rps(cls, value):
        return rate_limits.parse_rps(value, "ADAPTER_RPS")

    @field_validator("adapter_tpm", mode="before")
    @classmethod
    def tpm(cls, value):
        return rate_limits.parse_tpm(value, "ADAPTER_TPM")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        names = {f.alias for f in cls.model_fields.values()}
        try:
            return cls.model_validate({k: v for k, v in env.items() if k in names})
        except ValidationError as e:
            problems = "; ".join(f"{err['loc'][0]}: {'not set' if err['type'] == 'missing' else err['msg']}"
                                 for err in e.errors())
            raise MissingSettings(f"{cls.__name__}: {problems}") from None

    @property
    def resource_prefix(self) -> str:
        return f"{self.project_name}-{self.project_id}"

    @property
    def model_on_variant(self) -> bool:
        """on-demand and async: the endpoint config names the model (no inference components)."""
        return self.serving_mode in MODEL_VARIANT_MODES


class LockSettings(Settings):
    """The endpoint lock: how long a deployment may wait for it."""
    lock_wait_seconds: int = Field(alias="LOCK_WAIT_SECONDS", gt=0)


class ReconcileSettings(Settings):
    """The reconciler replays decisions through the deployment state machine."""
    deploy_state_machine_arn: str = Field(alias="DEPLOY_STATE_MACHINE_ARN", min_length=1)
