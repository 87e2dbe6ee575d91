"""Check 7: the stack's Lambda runtime can still be created.

Dates from AWS's runtime table (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html):
after deprecation a runtime gets no security patches; after "block function create" new functions
(a fresh deployment of this stack) cannot use it."""
import datetime as dt

from .result import Check, StackFacts, fail, ok, warn

NAME = "lambda runtime"
WARN_DAYS = 180
DOCS = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html"
# runtime -> (deprecation, block function create)
RUNTIMES: dict[str, tuple[dt.date, dt.date]] = {
    "python3.11": (dt.date(2027, 6, 30), dt.date(2027, 7, 31)),
    "python3.12": (dt.date(2028, 10, 31), dt.date(2028, 11, 30)),
    "python3.13": (dt.date(2029, 6, 30), dt.date(2029, 7, 31)),
}
FIX = f"move Globals.Function.Runtime in template.yaml to {{target}} and redeploy ({DOCS})"


def successor() -> str:
    """The table's runtime furthest from deprecation."""
    return max(RUNTIMES, key=lambda r: RUNTIMES[r][0])


def decide(runtime: str, today: dt.date) -> Check:
    dates = RUNTIMES.get(runtime)
    if dates is None:
        return warn(NAME, f"{runtime} is not in doctor's runtime table", f"check its dates at {DOCS}")
    deprecated, blocked = dates
    fix = FIX.format(target=successor())
    if today > blocked:
        return fail(NAME, f"{runtime}: creating functions blocked since {blocked}", fix)
    if today >= deprecated:
        return warn(NAME, f"{runtime} deprecated since {deprecated}; creates blocked after {blocked}", fix)
    if (deprecated - today).days <= WARN_DAYS:
        return warn(NAME, f"{runtime} is deprecated on {deprecated} ({(deprecated - today).days} days)", fix)
    return ok(NAME, f"{runtime} (deprecated {deprecated}, {(deprecated - today).days} days away)")


def worst(checks: list[Check]) -> Check:
    order = {"fail": 0, "warn": 1, "ok": 2}
    return min(checks, key=lambda c: order[c.status])


def check(facts: StackFacts, today: dt.date | None = None) -> Check:
    today = today or dt.date.today()
    lam = facts.client("lambda")
    runtimes = {lam.get_function_configuration(FunctionName=f).get("Runtime", "")
                for f in facts.of_type("AWS::Lambda::Function")}
    runtimes.discard("")
    if not runtimes:
        return warn(NAME, "the stack has no Lambda functions with a managed runtime", "deploy the current template")
    found = worst([decide(r, today) for r in sorted(runtimes)])
    if len(runtimes) > 1 and found.status == "ok":
        return ok(NAME, f"{', '.join(sorted(runtimes))}: none near deprecation")
    return found
