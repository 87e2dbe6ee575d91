"""`loraplane status`: one read-only look at what serves and what is in flight. Each section is read on
its own, and a section that cannot be read (no endpoint yet, a missing permission, an older stack)
becomes {"unavailable": "<reason>"} instead of failing the whole report. The readers are the control
plane's own (loraplane_core), so the report shows what the deployment itself would see."""
import datetime
import json
from dataclasses import dataclass, field

MACHINES = {"ingest": "IngestStateMachineArn", "deploy": "DeployStateMachineArn"}
QUEUES = {"ingest": "IngestDeadLetterQueueUrl", "deploy": "DeployDeadLetterQueueUrl"}
MAX_RUNNING = 20  # per state machine: enough to see a queue forming, bounded for a big backlog
MAX_FAILURES = 20
CAUSE_CHARS = 500
TABLE_CAUSE_CHARS = 160  # one screen line; --output json has the longer cause


class Unavailable(Exception):
    """A section that cannot be shown, with the reason in the user's words."""


@dataclass
class Context:
    session: object
    name: str
    outputs: dict[str, str]
    now: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    _clients: dict = field(default_factory=dict)

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    def output(self, key: str) -> str:
        if not self.outputs.get(key):
            raise Unavailable(f"the stack has no output {key} (deploy the current template)")
        return self.outputs[key]

    def table(self):
        return self.session.resource("dynamodb").Table(self.output("CatalogTableName"))

    @property
    def endpoint(self) -> str:
        return self.output("EndpointName")

    @property
    def mode(self) -> str:
        return self.outputs.get("ServingMode") or "inference-components"


def iso(t) -> str | None:
    if t is None:
        return None
    if isinstance(t, (int, float)):
        t = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_since(ctx: Context, t) -> int:
    if isinstance(t, (int, float)):
        return int(ctx.now.timestamp() - t)
    return int((ctx.now - t).total_seconds())


def reason_of(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, Unavailable):
        text = str(exc)
    elif isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        text = f"{exc.operation_name}: {err.get('Code')}: {err.get('Message', '')}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


# -- sections ------------------------------------------------------------------------------------
def endpoint(ctx: Context) -> dict:
    from loraplane_core.sagemaker_gateway import describe

    sm = ctx.client("sagemaker")
    d = describe(sm.describe_endpoint, EndpointName=ctx.endpoint)
    if d is None:
        raise Unavailable(f"no endpoint {ctx.endpoint} yet (approving a base model package creates it)")
    try:  # the instance type is in the endpoint config only; the counts are enough without it
        config = sm.describe_endpoint_config(EndpointConfigName=d["EndpointConfigName"])
        types = {v["VariantName"]: v.get("InstanceType") for v in config.get("ProductionVariants", [])}
    except Exception:  # noqa: BLE001
        types = {}
    variants = [{"name": v["VariantName"], "instance_type": types.get(v["VariantName"]),
                 "current_instances": v.get("CurrentInstanceCount"), "desired_instances": v.get("DesiredInstanceCount")}
                for v in d.get("ProductionVariants", [])]
    return {"name": ctx.endpoint, "status": d["EndpointStatus"], "failure_reason": d.get("FailureReason"),
            "last_modified": iso(d.get("LastModifiedTime")), "variants": variants}


def base_model(ctx: Context) -> dict:
    from loraplane_core.approved_bases import serving_base_package
    from loraplane_core.deployment.versions import deployed_base
    from loraplane_core.ingest.registry import base_model_uri

    table, group = ctx.table(), ctx.output("BaseModelPackageGroupName")
    package = serving_base_package(ctx.client("sagemaker"), table, group, ctx.endpoint)
    if package is None:
        raise Unavailable(f"no approved base model package in {group} "
                          "(loraplane models register-base --base-model-dir DIR --approve)")
    deployed = deployed_base(table, ctx.endpoint)
    serving = bool(deployed) and deployed["package_arn"] == package["ModelPackageArn"]
    try:
        uri = base_model_uri(package)
    except (KeyError, IndexError):
        uri = None
    return {"name": package.get("CustomerMetadataProperties", {}).get("base_model"),
            "package_arn": package["ModelPackageArn"], "version": package.get("ModelPackageVersion"),
            "approval_status": package.get("ModelApprovalStatus"), "deployed": serving,
            "deployed_at": deployed.get("deployed_at") if serving else None, "model_uri": uri}


def adapters(ctx: Context) -> dict:
    from loraplane_core import catalog
    from loraplane_core.deployment.serving_modes import InferenceComponents, OnDemand, invoke_args
    from loraplane_core.endpoint_names import prefix_of_endpoint
    from loraplane_core.settings import MODEL_VARIANT_MODES

    sm = ctx.client("sagemaker")
    if ctx.mode in MODEL_VARIANT_MODES:  # the live manifest, in both
        live = OnDemand(sm, ctx.client("s3"), ctx.endpoint, ctx.output("AdapterBucketName")).live()
    else:
        live = InferenceComponents(sm, ctx.endpoint, prefix_of_endpoint(ctx.endpoint)).live()
    table, out = ctx.table(), []
    for name in sorted(live):
        item = catalog.find_version(table, name, live[name]) if live[name] else None
        out.append({"name": name, "version": int(item["package_version"]) if item else None, "sha256": live[name],
                    "invoke": invoke_args(ctx.mode, ctx.endpoint, name)})
    return {"mode": ctx.mode, "live": out}


def lock(ctx: Context) -> dict:
    from loraplane_core.deployment.decision_queue import waiting
    from loraplane_core.deployment.endpoint_lock import holder

    held = holder(ctx.table(), ctx.endpoint)
    queued = [q for q in waiting(ctx.table(), ctx.endpoint)  # not settled, and its waiter still waits
              if "outcome" not in q and int(q.get("expires_at", 0)) >= ctx.now.timestamp()]
    if not held:
        return {"held": False, "queued": len(queued)}
    taken, expires = int(held.get("taken_at", 0)), int(held.get("expires_at", 0))
    return {"held": True, "owner": held.get("owner"), "taken_at": iso(taken) if taken else None,
            "age_seconds": seconds_since(ctx, taken) if taken else None, "expires_at": iso(expires),
            "expired": expires < ctx.now.timestamp(), "queued": len(queued),
            "carried_by_holder": sum(1 for q in queued if q.get("claimed_by") == held.get("owner"))}


def executions(ctx: Context) -> dict:
    sfn, out = ctx.client("stepfunctions"), {}
    for kind, key in MACHINES.items():
        page = sfn.list_executions(stateMachineArn=ctx.output(key), statusFilter="RUNNING", maxResults=MAX_RUNNING)
        out[kind] = [{"name": e["name"], "started": iso(e["startDate"]),
                      "age_seconds": seconds_since(ctx, e["startDate"])} for e in page["executions"]]
        if page.get("nextToken"):
            out[f"{kind}_more"] = True  # more than MAX_RUNNING are running
    return out


def dead_letters(ctx: Context) -> dict:
    sqs, out = ctx.client("sqs"), {}
    for kind, key in QUEUES.items():
        attrs = sqs.get_queue_attributes(QueueUrl=ctx.output(key), AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        out[kind] = {"messages": int(attrs.get("ApproximateNumberOfMessages", 0)),
                     "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))}
    return out


def short_cause(cause: str | None) -> str:
    """A Lambda's cause is JSON with errorMessage and a stack trace: the message is the reason."""
    try:
        parsed = json.loads(cause or "")
        cause = (parsed.get("errorMessage") or cause) if isinstance(parsed, dict) else cause
    except ValueError:
        pass
    return " ".join((cause or "").split())[:CAUSE_CHARS]


def root_failure(sfn, arn: str) -> tuple[str | None, str | None]:
    """The last failed task of the execution: its Fail state only says that something failed, after a Catch."""
    events = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=50)["events"]
    for e in events:
        for key, details in e.items():
            if key.endswith("FailedEventDetails") and key != "executionFailedEventDetails" and details.get("error"):
                return details.get("error"), details.get("cause")
    return None, None


def subject_of(execution_input: str | None) -> str | None:
    """The upload (ingest) or the model package (deploy) the execution was about."""
    try:
        event = json.loads(execution_input or "")
        return (event.get("detail", {}).get("object", {}).get("key")
                or (event.get("resources") or [None])[0] or event.get("detail", {}).get("ModelPackageArn"))
    except (ValueError, AttributeError, TypeError):
        return None


def failures(ctx: Context, limit: int) -> dict:
    sfn, found = ctx.client("stepfunctions"), []
    if limit <= 0:
        return {"recent": []}
    for kind, key in MACHINES.items():
        for state in ("FAILED", "TIMED_OUT", "ABORTED"):
            page = sfn.list_executions(stateMachineArn=ctx.output(key), statusFilter=state, maxResults=limit)
            found += [(kind, e) for e in page["executions"]]
    found.sort(key=lambda ke: ke[1].get("stopDate") or ke[1]["startDate"], reverse=True)
    recent = []
    for kind, e in found[:limit]:
        d = sfn.describe_execution(executionArn=e["executionArn"])
        error, cause = d.get("error"), d.get("cause")
        try:
            root_error, root_cause = root_failure(sfn, e["executionArn"])
        except Exception:  # noqa: BLE001 - the execution's own error is still worth showing
            root_error, root_cause = None, None
        recent.append({"machine": kind, "name": e["name"], "status": e["status"], "stopped": iso(e.get("stopDate")),
                       "subject": subject_of(d.get("input")), "error": root_error or error,
                       "cause": short_cause(root_cause or cause)})
    return {"recent": recent}


SECTIONS = (("endpoint", endpoint), ("base_model", base_model), ("adapters", adapters), ("lock", lock),
            ("executions", executions), ("dead_letters", dead_letters))


def collect(session, name: str, failures_limit: int = 5) -> dict:
    """The report. A missing stack is an error (nothing else can be read), raised for the CLI to explain."""
    stack = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    ctx = Context(session, name, {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])})
    report: dict = {"stack": {"name": name, "status": stack["StackStatus"], "reason": stack.get("StackStatusReason")},
                    "serving_mode": ctx.mode}
    readers = [*SECTIONS, ("failures", lambda c: failures(c, min(failures_limit, MAX_FAILURES)))]
    for key, read in readers:
        try:
            report[key] = read(ctx)
        except Exception as exc:  # noqa: BLE001 - one section that cannot be read does not hide the others
            report[key] = {"unavailable": reason_of(exc)}
    return report


# -- the table -----------------------------------------------------------------------------------
def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def age(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{d}d{h}h" if d else f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def lines_of(key: str, section) -> list[str]:
    if isinstance(section, dict) and "unavailable" in section:
        return [f"unavailable: {section['unavailable']}"]
    if key == "stack":
        reason = f" ({section['reason']})" if section.get("reason") else ""
        return [f"{section['name']}: {section['status']}{reason}"]
    if key == "endpoint":
        variants = "; ".join(f"{v['name']} {v['current_instances']}/{v['desired_instances']} instance(s)"
                             + (f" {v['instance_type']}" if v.get("instance_type") else "")
                             for v in section["variants"])
        head = f"{section['name']}: {section['status']}" + (f"; {variants}" if variants else "")
        return [head] + ([f"failure: {section['failure_reason']}"] if section.get("failure_reason") else [])
    if key == "base_model":
        state = f"deployed {section['deployed_at'] or ''}".strip() if section["deployed"] else "not deployed yet"
        return [f"{section['name']}: version {section['version']}, {section['approval_status']}, {state}",
                section["package_arn"]]
    if key == "adapters":
        if not section["live"]:
            return ["none live"]
        width = max(len(a["name"]) for a in section["live"])
        return [f"{len(section['live'])} live"] + [
            f"{a['name']:<{width}}  v{a['version'] if a['version'] is not None else '?'}  "
            f"sha256 {(a['sha256'] or '?')[:12]}" for a in section["live"]]
    if key == "lock":
        queued = [f"{section['queued']} adapter decisions waiting"
                  + (f", {section['carried_by_holder']} carried out by the holder" if section.get("carried_by_holder")
                     else "")] if section.get("queued") else []
        if not section["held"]:
            return ["free", *queued]
        note = " (expired: the next deployment takes it over)" if section["expired"] else \
            f" (expires {section['expires_at']})"
        return [f"held by {section['owner']} for {age(section['age_seconds'])}{note}", *queued]
    if key == "executions":
        out = []
        for kind in MACHINES:
            running = section.get(kind, [])
            names = ", ".join(f"{e['name']} ({age(e['age_seconds'])})" for e in running)
            more = " and more" if section.get(f"{kind}_more") else ""
            out.append(f"{kind}: {len(running)} running" + (f": {names}{more}" if running else ""))
        return out
    if key == "dead_letters":
        return [", ".join(f"{kind} {q['messages']}" + (f" (+{q['in_flight']} in flight)" if q["in_flight"] else "")
                          for kind, q in section.items())
                + (" - loraplane redrive starts them again" if any(q["messages"] for q in section.values()) else "")]
    if key == "failures":
        if not section["recent"]:
            return ["none"]
        return [f"{f['stopped'] or '?'}  {f['machine']:<6}  {f['name']}"
                + (f"  [{f['subject']}]" if f["subject"] else "") + f"\n    {f['error'] or f['status']}: {clip(f['cause'] or '-', TABLE_CAUSE_CHARS)}"
                for f in section["recent"]]
    return [json.dumps(section, default=str)]


TITLES = {"stack": "stack", "endpoint": "endpoint", "serving_mode": "serving mode", "base_model": "base model",
          "adapters": "adapters", "lock": "endpoint lock", "executions": "executions", "dead_letters": "dead letters",
          "failures": "last failures"}


def render(report: dict, output: str) -> str:
    if output == "json":
        return json.dumps(report, indent=2, default=str)
    width = max(len(t) for t in TITLES.values()) + 2
    out = []
    for key, title in TITLES.items():
        section = report.get(key)
        body = [section] if key == "serving_mode" else lines_of(key, section)
        for i, text in enumerate(body):
            for j, part in enumerate(text.split("\n")):
                out.append(f"{title if i == 0 and j == 0 else '':<{width}}{part}")
    return "\n".join(out)
