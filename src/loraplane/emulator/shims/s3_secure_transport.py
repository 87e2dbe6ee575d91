"""Bucket policies with `aws:SecureTransport` conditions.

moto evaluates bucket policies without their Conditions, so the template's TLS-only policy
(Deny s3:* when aws:SecureTransport is false) denies every request. The emulator listens on
plain HTTP on 127.0.0.1, its stand-in for TLS: requests count as secure transport, so such a
Deny never applies here. All other statements are evaluated by moto as before.
"""
import json


def applies_over_tls(statement: dict) -> bool:
    """False for a statement conditioned only on aws:SecureTransport being false."""
    condition = statement.get("Condition") or {}
    secure = {k.lower(): str(v).lower() for k, v in condition.get("Bool", {}).items()}
    only_transport = set(condition) == {"Bool"} and set(secure) == {"aws:securetransport"}
    return not (only_transport and secure["aws:securetransport"] == "false")


def install() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self, action: str, resource: str):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy)
        statements = policy.get("Statement", [])
        statements = [statements] if isinstance(statements, dict) else statements
        kept = [s for s in statements if applies_over_tls(s)]
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**policy, "Statement": kept})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission
