"""Runs the checks in order and prints one line each. A check that raises becomes a failed line
(no traceback); without credentials or without the stack, the checks that need them are not run."""
import datetime as dt
import json
from dataclasses import asdict

from . import account, image, quota, runtimes
from .result import Check, StackFacts, error_code, fail

CHECKS = (("endpoint quota", quota.check), ("serving image", image.check), ("adapter bucket", account.bucket),
          ("kms key", account.kms_key), ("model package groups", account.model_package_groups))


def guarded(name: str, check, *args) -> Check:
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 - doctor prints a line, never a traceback
        message = " ".join(str(exc).split())[:240]
        return fail(name, f"{error_code(exc)}: {message}", "fix what the error says, then run `loraplane doctor` again")


def run(session, stack_name: str, today: dt.date | None = None) -> list[Check]:
    first, identity = account.credentials(session)
    if identity is None:
        return [first]
    arn = identity.get("Arn", "")
    facts = StackFacts(session, stack_name, session.region_name, identity["Account"],
                       arn.split(":")[1] if arn.startswith("arn:") else "aws")
    checks = [first, guarded("stack", account.stack, facts)]
    if checks[-1].status == "fail":
        return checks
    checks += [guarded(name, check, facts) for name, check in CHECKS]
    checks.append(guarded(runtimes.NAME, runtimes.check, facts, today))
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def render(checks: list[Check], output: str = "table") -> str:
    if output == "json":
        return json.dumps({"ok": not failed(checks), "checks": [asdict(c) for c in checks]}, indent=2)
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status.upper() if c.status != 'ok' else 'ok':<4}  {c.name:<{width}}  {c.detail}"
             + (f" -> fix: {c.fix}" if c.status != "ok" and c.fix else "") for c in checks]
    problems = sum(c.status == "fail" for c in checks)
    lines.append(f"{problems} check(s) failed." if problems else "Ready: every check passed.")
    return "\n".join(lines)
