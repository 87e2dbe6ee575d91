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


def base_model_name(prefix: str, version: int) -> str:
    return f"{prefix}-base-{version}"[:63]


def components_config(prefix: str) -> str:
    """The endpoint config of an inference-component endpoint (no model): at most 53 + 10."""
    return f"{prefix}-ic-config"


def async_config(prefix: str, version: int) -> str:
    """The endpoint config of an asynchronous endpoint (ServingMode async) for a base model version:
    its own name, so that switching between on-demand and async makes a new config (configs cannot
    change) instead of finding the other mode's under the model's name. At most 53 + 6 + 4 digits."""
    return f"{prefix}-async{version}"[:63]


def owned_by(prefix: str, name: str) -> bool:
    """Models and endpoint configs this project created: exactly <prefix>-base-<version>,
    <prefix>-async<version> and <prefix>-ic-config, never a name another project's prefix merely
    starts with (project `ml`, id `p-aaa` must not take project `ml-p-aaa`'s)."""
    return name == components_config(prefix) or any(
        name == make(prefix, int(v)) for make, pattern in ((base_model_name, r"-base-(\d{1,5})\Z"),
                                                            (async_config, r"-async(\d{1,5})\Z"))
        for v in re.findall(pattern, name))


def project_tags(project_name: str, project_id: str) -> list[dict[str, str]]:
    """The tags SageMaker Projects put on a project's resources; IAM scopes updates and deletes by them."""
    return [{"Key": "sagemaker:project-name", "Value": project_name}, {"Key": "sagemaker:project-id", "Value": project_id}]
