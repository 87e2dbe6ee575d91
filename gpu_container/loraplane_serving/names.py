"""The names a request may give for an adapter, and how they are shown in answers.

Two rules: an adapter's own name (CONTRACTS §2: 1-30 of [a-z0-9-]) and, for adapters registered
through POST /adapters, a SageMaker inference component's name: SageMaker sends the adapter
component's name in `X-Amzn-SageMaker-Adapter-Identifier` and POST /adapters, and the control plane
names those `<adapter>-<8 hex>` (up to 39 characters). Always fullmatch: `$` accepts "abc\\n".
"""
import re

from loraplane_core.adapters.reasons import AdapterRejected, Reason

ADAPTER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?")
# SageMaker's InferenceComponentName: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$, at most 63 characters.
COMPONENT_NAME = re.compile(r"[a-zA-Z0-9](?:-*[a-zA-Z0-9])*")
MAX_COMPONENT_NAME = 63
SHOWN_CHARS = 64  # of a name quoted in an error message


def is_adapter_name(name) -> bool:
    return isinstance(name, str) and len(name) <= 30 and ADAPTER_NAME.fullmatch(name) is not None


def is_component_name(name) -> bool:
    """Also true of every adapter name (the component rule is the wider one)."""
    return isinstance(name, str) and len(name) <= MAX_COMPONENT_NAME and COMPONENT_NAME.fullmatch(name) is not None


def check(name: str, component: bool = False) -> None:
    """AdapterRejected(INVALID_ADAPTER_NAME) unless `name` follows the rule; also keeps names from
    escaping the cache directory (neither rule allows '/' or '.')."""
    if component and not is_component_name(name):
        raise AdapterRejected(Reason.INVALID_ADAPTER_NAME,
                              f"inference component name '{shown(name)}' must be 1-63 characters of "
                              "[a-zA-Z0-9-], starting and ending with a letter or digit")
    if not component and not is_adapter_name(name):
        raise AdapterRejected(Reason.INVALID_ADAPTER_NAME,
                              f"adapter name '{shown(name)}' must be 1-30 characters of [a-z0-9-], "
                              "starting and ending with a letter or digit")


def shown(name) -> str:
    """A requested name as quoted in answers: one line, escaped, at most SHOWN_CHARS characters."""
    if not isinstance(name, str):
        name = repr(name)
    text = name if is_component_name(name) else repr(name)[1:-1]
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(name)} characters)"
