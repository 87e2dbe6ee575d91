"""On-demand mode's live manifest, `live/manifest.json`: which adapters (and which version of each,
by the sha256 of its weights) the control plane has made live. One model for the writer
(deployment/serving_modes.OnDemand) and the reader (the container's loraplane_serving.manifest)."""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loraplane_core.adapters.rate_limits import LimitRejected, parse_rps, parse_tpm

LIVE_PREFIX = "live/"
MANIFEST_KEY = f"{LIVE_PREFIX}manifest.json"
DEFAULT_TTL_SECONDS = 5.0  # how long a container keeps the manifest it read (LORAPLANE_MANIFEST_TTL_SECONDS)


def live_key(adapter: str) -> str:
    return f"{LIVE_PREFIX}{adapter}/adapter.tar.gz"


class LiveAdapter(BaseModel):
    # extra: fields a newer publisher adds do not break a reader; defer_build: validators built on first
    # use, not in the cold start of every deployment Lambda (docs/benchmarks.md)
    model_config = ConfigDict(extra="ignore", defer_build=True)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")  # pydantic's regex: $ is the very end
    version: int | str | None = None  # informational, like the two below
    package_arn: str | None = None
    base_model: str | None = None
    # The adapter's own rate limits (model package metadata); None: the container's default applies.
    requests_per_second: float | None = None
    tokens_per_minute: int | None = None

    @field_validator("requests_per_second", "tokens_per_minute", mode="before")
    @classmethod
    def limit_or_default(cls, v, info):
        """A malformed limit falls back to the default: it must never make the whole manifest invalid
        (that would stop serving every adapter)."""
        if v is None:
            return None
        try:
            return parse_rps(v) if info.field_name == "requests_per_second" else parse_tpm(v)
        except LimitRejected:
            return None

    @field_validator("sha256")
    @classmethod
    def lower(cls, v: str) -> str:
        return v.lower()  # validation reports hexdigest(), lower case


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    format: Literal[1]
    updated_at: str | None = None
    adapters: dict[str, LiveAdapter]


EMPTY = Manifest.model_construct(format=1, adapters={})  # constant values: nothing to validate, nothing built
