"""`loraplane logs`: the stack's Lambda functions' and the endpoint's CloudWatch Logs, merged by time.

Log groups: the stack's own AWS::Logs::LogGroup resources named /aws/lambda/<project>-<id>-<function> (exactly
the stack's, from CloudFormation; a project whose name extends this one's is never included),
/aws/sagemaker/Endpoints/<endpoint> and, in inference-components mode, the base component's
/aws/sagemaker/InferenceComponents/<project>-<id>-base (SageMaker logs an inference component's container there;
adapter components share that container). FilterLogEvents, a bounded number of pages per group and poll."""
import json
import time
from typing import Callable

from .cli_errors import NotFound

LAMBDA_PREFIX = "/aws/lambda/"
ENDPOINT_PREFIX = "/aws/sagemaker/Endpoints/"
COMPONENT_PREFIX = "/aws/sagemaker/InferenceComponents/"
PAGE_EVENTS = 1000   # FilterLogEvents' own maximum per page
MAX_PAGES = 10       # per group and poll: 10,000 events, then the user narrows --since or --filter
SEEN_IDS = 20000     # event ids remembered across polls (events sharing the last timestamp come again)


def lambda_groups(session, stack: str, prefix: str) -> list[str]:
    """The stack's Lambda log groups, from its resources; by name prefix when the stack cannot be listed."""
    from botocore.exceptions import ClientError

    try:
        pages = session.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack)
        names = [r.get("PhysicalResourceId", "") for page in pages for r in page["StackResourceSummaries"]
                 if r["ResourceType"] == "AWS::Logs::LogGroup"]
    except ClientError:
        names = []
    found = sorted(n for n in names if n.startswith(f"{LAMBDA_PREFIX}{prefix}-"))
    if found:
        return found
    pages = session.client("logs").get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=f"{LAMBDA_PREFIX}{prefix}-")
    return sorted(g["logGroupName"] for page in pages for g in page["logGroups"]
                  if "-" not in g["logGroupName"][len(f"{LAMBDA_PREFIX}{prefix}-"):])  # <prefix>-<one word>


def endpoint_groups(outputs: dict) -> list[str]:
    from loraplane_core.endpoint_names import base_component, prefix_of_endpoint

    endpoint = outputs["EndpointName"]
    groups = [f"{ENDPOINT_PREFIX}{endpoint}"]
    if (outputs.get("ServingMode") or "inference-components") == "inference-components":
        groups.append(f"{COMPONENT_PREFIX}{base_component(prefix_of_endpoint(endpoint))}")
    return groups


def choose(groups: list[str], prefix: str, function: str | None) -> list[str]:
    """--function: its suffix (validate, register, ...) or the whole function name."""
    if function is None:
        return groups
    wanted = {f"{LAMBDA_PREFIX}{prefix}-{function}", f"{LAMBDA_PREFIX}{function}"}
    chosen = [g for g in groups if g in wanted]
    if not chosen:
        names = ", ".join(g.removeprefix(f"{LAMBDA_PREFIX}{prefix}-") for g in groups) or "none"
        raise NotFound(f"no function {function} in the stack", f"Pass one of: {names}")
    return chosen


def short(group: str, prefix: str) -> str:
    """The column that says where a line comes from: the function's suffix, or `endpoint`."""
    if group.startswith((ENDPOINT_PREFIX, COMPONENT_PREFIX)):
        return "endpoint"
    return group.removeprefix(f"{LAMBDA_PREFIX}{prefix}-").removeprefix(LAMBDA_PREFIX)


def fetch(logs, group: str, start_ms: int, pattern: str | None = None, end_ms: int | None = None) -> list[dict] | None:
    """Events of one group since start_ms (at most MAX_PAGES pages); None when the group does not exist."""
    kwargs = {"logGroupName": group, "startTime": start_ms, "limit": PAGE_EVENTS}
    if pattern:
        kwargs["filterPattern"] = pattern
    if end_ms is not None:
        kwargs["endTime"] = end_ms
    events = []
    for _ in range(MAX_PAGES):
        try:
            page = logs.filter_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return None
        events += [{**e, "logGroupName": group} for e in page.get("events", [])]
        token = page.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            break
        kwargs["nextToken"] = token
    return events


def iso_ms(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def line_of(event: dict, prefix: str, output: str) -> str:
    if output == "json":
        return json.dumps({"timestamp": iso_ms(event["timestamp"]), "group": event["logGroupName"],
                           "stream": event.get("logStreamName"), "message": event.get("message", "").rstrip("\n")})
    source = short(event["logGroupName"], prefix)
    return f"{iso_ms(event['timestamp'])}  {source:<10}  {event.get('message', '').rstrip()}"


class Tail:
    """Polls the groups; each event once, in time order per poll (events of one poll are merged by timestamp)."""

    def __init__(self, logs, groups: list[str], start_ms: int, pattern: str | None = None,
                 warn: Callable[[str], None] = lambda _: None):
        self.logs, self.groups, self.pattern, self.warn = logs, groups, pattern, warn
        self.start = {g: start_ms for g in groups}
        self.seen: dict[str, None] = {}  # insertion-ordered, to forget the oldest
        self.missing: set[str] = set()

    def poll(self) -> list[dict]:
        fresh = []
        for group in self.groups:
            events = fetch(self.logs, group, self.start[group], self.pattern)
            if events is None:
                if group not in self.missing:
                    self.missing.add(group)
                    self.warn(f"no log group {group} (yet)")
                continue
            self.missing.discard(group)
            for e in events:
                key = e.get("eventId") or f"{group}/{e.get('logStreamName')}/{e['timestamp']}/{e.get('message')}"
                if key in self.seen:
                    continue
                self.seen[key] = None
                fresh.append(e)
                self.start[group] = max(self.start[group], e["timestamp"])  # inclusive: same-ms events come again
        while len(self.seen) > SEEN_IDS:
            del self.seen[next(iter(self.seen))]
        return sorted(fresh, key=lambda e: (e["timestamp"], e["logGroupName"]))


def follow(tail: Tail, emit: Callable[[dict], None], interval: float, polls: int | None = None,
           sleep: Callable[[float], None] = time.sleep) -> int:
    """Polls until interrupted (or `polls` times); the number of events emitted."""
    count, n = 0, 0
    try:
        while polls is None or n < polls:
            for e in tail.poll():
                emit(e)
                count += 1
            n += 1
            if polls is None or n < polls:
                sleep(interval)
    except KeyboardInterrupt:
        pass
    return count


def groups_for(session, stack: str, outputs: dict, function: str | None, endpoint: bool) -> tuple[list[str], str]:
    """(the groups to read, the project prefix): the endpoint's, one function's, or by default every function's
    and the endpoint's."""
    from loraplane_core.endpoint_names import prefix_of_endpoint

    prefix = prefix_of_endpoint(outputs["EndpointName"])
    if endpoint:
        return endpoint_groups(outputs), prefix
    chosen = choose(lambda_groups(session, stack, prefix), prefix, function)
    return chosen + ([] if function else endpoint_groups(outputs)), prefix
