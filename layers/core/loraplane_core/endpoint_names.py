"""Names of what the control plane creates at run time on the endpoint (SageMaker limits: 63
characters for models, endpoint configs and inference components)."""
import hashlib
import re


def short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def adapter_component(endpoint: str, adapter: str) -> str:
    """<adapter>-<hash of the endpoint>: at most 30 + 9 characters, unique per endpoint."""
    return f"{adapter}-{short_hash(endpoint)}"


def adapter_of_component(endpoint: str, component: str) -> str | None:
    suffix = f"-{short_hash(endpoint)}"
    return component[: -len(suffix)] if component.endswith(suffix) else None


def prefix_of_endpoint(endpoint: str) -> str:
    """The template names the endpoint <prefix>-endpoint."""
    return endpoint.removesuffix("-endpoint")


def base_component(prefix: str) -> str:
    return f"{prefix}-base"  # prefix = <project name (<=32)>-<project id (<=20)>: at most 58


MAX_NAME = 63  # SageMaker: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$
_DIGITS36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _version_tag(version: int, room: int) -> str:
    """The version in at most `room` characters: decimal when it fits; else a letter and base-36 digits, one
    string per version (a bijection, so no two versions share a name, and a letter first, so none reads as
    another version's decimal). Cutting the decimal short made versions 10000 and 1000 one name; a hash would
    not fit the IAM patterns (one '?' per character after `-base-` / `-async`, template.yaml)."""
    decimal = str(version)
    if version < 0 or room < 1:
        raise ValueError(f"no {MAX_NAME}-character name for version {version}")
    if len(decimal) <= room:
        return decimal
    n = version - 10 ** room  # the decimals 0 .. 10**room - 1 are taken
    if n >= 26 * 36 ** (room - 1):
        raise ValueError(f"version {version} is too high for a {MAX_NAME}-character name")
    head, tail = divmod(n, 36 ** (room - 1))
    digits = ""
    for _ in range(room - 1):
        tail, d = divmod(tail, 36)
        digits = _DIGITS36[d] + digits
    return _DIGITS36[10 + head] + digits


def _version_of(tag: str, room: int) -> int | None:
    """The version `_version_tag(version, room)` made `tag` of; None if it made no such tag."""
    if tag.isascii() and tag.isdigit():
        return int(tag) if not tag.startswith("0") or tag == "0" else None
    if len(tag) != room or not tag.isascii() or not tag[0].islower() or not tag[0].isalpha():
        return None
    try:
        tail = int(tag[1:], 36) if room > 1 else 0
    except ValueError:
        return None
    return 10 ** room + (ord(tag[0]) - ord("a")) * 36 ** (room - 1) + tail


def _versioned(stem: str, version: int) -> str:
    return stem + _version_tag(version, MAX_NAME - len(stem))


def base_model_name(prefix: str, version: int) -> str:
    """<prefix>-base-<version>: at most 53 + 6 + 4 characters, so versions from 10000 on (the longest
    prefixes) or 100000 on (any prefix) are written in base 36 after a letter (`_version_tag`)."""
    return _versioned(f"{prefix}-base-", version)


def components_config(prefix: str) -> str:
    """The endpoint config of an inference-component endpoint (no model): at most 53 + 10."""
    return f"{prefix}-ic-config"


def async_config(prefix: str, version: int) -> str:
    """The endpoint config of an asynchronous endpoint (ServingMode async) for a base model version:
    its own name, so that switching between on-demand and async makes a new config (configs cannot
    change) instead of finding the other mode's under the model's name. At most 63 characters, as
    base_model_name."""
    return _versioned(f"{prefix}-async", version)


def owned_by(prefix: str, name: str) -> bool:
    """Models and endpoint configs this project created: exactly <prefix>-base-<version>,
    <prefix>-async<version> and <prefix>-ic-config, never a name another project's prefix merely
    starts with (project `ml`, id `p-aaa` must not take project `ml-p-aaa`'s)."""
    if name == components_config(prefix):
        return True
    for stem, make in ((f"{prefix}-base-", base_model_name), (f"{prefix}-async", async_config)):
        tag = name[len(stem):] if name.startswith(stem) else ""
        if not re.fullmatch(r"[0-9a-z]{1,12}", tag):
            continue
        version = _version_of(tag, MAX_NAME - len(stem))
        try:
            if version is not None and name == make(prefix, version):
                return True
        except ValueError:
            continue
    return False


def project_tags(project_name: str, project_id: str) -> list[dict[str, str]]:
    """The tags SageMaker Projects put on a project's resources; IAM scopes updates and deletes by them."""
    return [{"Key": "sagemaker:project-name", "Value": project_name}, {"Key": "sagemaker:project-id", "Value": project_id}]
