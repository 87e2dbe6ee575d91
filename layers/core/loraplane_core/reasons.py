"""Why an adapter upload is rejected: one code per cause, each with a human message."""
from enum import StrEnum


class Reason(StrEnum):
    INVALID_ADAPTER_NAME = "INVALID_ADAPTER_NAME"
    MISSING_CONFIG = "MISSING_CONFIG"
    MISSING_WEIGHTS = "MISSING_WEIGHTS"
    PICKLE_WEIGHTS = "PICKLE_WEIGHTS"
    CONFIG_NOT_JSON = "CONFIG_NOT_JSON"
    CONFIG_INVALID = "CONFIG_INVALID"
    NOT_LORA = "NOT_LORA"
    UNSUPPORTED_VARIANT = "UNSUPPORTED_VARIANT"
    NO_BASE_MODEL = "NO_BASE_MODEL"
    BASE_MODEL_MISMATCH = "BASE_MODEL_MISMATCH"
    RANK_TOO_HIGH = "RANK_TOO_HIGH"
    UNKNOWN_TARGET_MODULES = "UNKNOWN_TARGET_MODULES"
    SAFETENSORS_HEADER_TOO_LARGE = "SAFETENSORS_HEADER_TOO_LARGE"
    SAFETENSORS_MALFORMED = "SAFETENSORS_MALFORMED"
    SAFETENSORS_TRUNCATED = "SAFETENSORS_TRUNCATED"
    TENSORS_MISMATCH_CONFIG = "TENSORS_MISMATCH_CONFIG"
    TOO_LARGE = "TOO_LARGE"
    UNSAFE_ARCHIVE = "UNSAFE_ARCHIVE"
    INVALID_ARCHIVE = "INVALID_ARCHIVE"


class AdapterRejected(Exception):
    """An upload that can never become a model package; `reason` says which rule it broke."""

    def __init__(self, reason: Reason, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
