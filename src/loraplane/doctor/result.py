"""The typed outcome of one doctor check, and the stack facts the checks share."""
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str  # what was found
    fix: str = ""  # one line: what to do (empty when ok)


def ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def warn(name: str, detail: str, fix: str) -> Check:
    return Check(name, "warn", detail, fix)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


@dataclass
class StackFacts:
    """What the stack check found, for the checks after it."""
    session: object  # boto3.Session
    name: str
    region: str
    account: str
    partition: str = "aws"
    outputs: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    resources: dict[str, tuple[str, str]] = field(default_factory=dict)  # logical id -> (type, physical id)

    def client(self, service: str, region: str | None = None):
        return self.session.client(service, region_name=region or self.region)

    def physical(self, logical_id: str) -> str | None:
        return self.resources.get(logical_id, ("", None))[1]

    def of_type(self, resource_type: str) -> list[str]:
        return [physical for kind, physical in self.resources.values() if kind == resource_type and physical]


def error_code(exc: Exception) -> str:
    """botocore's error code ("AccessDeniedException", "404"...), or the exception's class name."""
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") or type(exc).__name__


def is_access_denied(exc: Exception) -> bool:
    return error_code(exc) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403")
