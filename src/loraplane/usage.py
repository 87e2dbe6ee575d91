"""`loraplane usage`: tokens in and out per adapter per hour, from the serving container's CloudWatch
metrics (gpu_container/loraplane_serving/usage_metrics.py: namespace LoRAPlane/Serving, dimensions
EndpointName + Adapter). GetMetricData with a 3600 s period and the Sum statistic: CloudWatch keeps
1-hour data points for 455 days, so any window up to MAX_SINCE can be read.

Which adapters: the named one, else every adapter the catalog knows (ever uploaded) with the reserved
`_base` (the base model) and `_other` (past the container's per-interval cap), plus any other Adapter
value ListMetrics finds for the endpoint (it only lists metrics with data in the last two weeks)."""
import csv
import datetime
import io
import json
import re

from .cli_errors import Usage

PERIOD = 3600
MAX_SINCE = datetime.timedelta(days=455)  # CloudWatch's retention of 1-hour data points
COLUMNS = (("Requests", "requests"), ("PromptTokens", "prompt_tokens"), ("GeneratedTokens", "generated_tokens"))
SINCE = re.compile(r"([0-9]{1,6})([hdw])", re.ASCII)
UNITS = {"h": datetime.timedelta(hours=1), "d": datetime.timedelta(days=1), "w": datetime.timedelta(weeks=1)}
MAX_QUERIES = 500  # GetMetricData's limit per call


class InvalidSince(Usage):
    """--since that is not <N>h, <N>d or <N>w between 1 hour and 455 days."""


def parse_since(text: str) -> datetime.timedelta:
    """'36h', '7d', '2w' -> the window; InvalidSince otherwise (whole hours: the data are hourly)."""
    match = SINCE.fullmatch(text.strip()) if isinstance(text, str) and len(text) <= 32 else None
    if match is None:
        raise InvalidSince(f"--since {text[:40]!r} is not a duration", "Write it as <N>h, <N>d or <N>w, e.g. 7d")
    window = int(match[1]) * UNITS[match[2]]
    if not datetime.timedelta(hours=1) <= window <= MAX_SINCE:
        raise InvalidSince(f"--since {text.strip()} is outside 1h..455d",
                           "CloudWatch keeps hourly data points for 455 days")
    return window


def check_adapter(name: str) -> str:
    from loraplane_serving.names import is_adapter_name
    from loraplane_serving.usage_metrics import RESERVED

    if name in RESERVED or is_adapter_name(name):
        return name
    raise Usage(f"--adapter {name[:40]!r} is not an adapter name",
                "Adapter names are 1-30 characters of [a-z0-9-]; _base is the base model")


def window(since: datetime.timedelta, now: datetime.datetime | None = None) -> tuple[datetime.datetime, ...]:
    """[start, end): the whole hours that hold the last `since`, the current one included (hourly
    periods start on the hour; `--since 1h` at 10:00:30 reads 09:00-11:00, not 30 seconds)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    floor = lambda t: t.replace(minute=0, second=0, microsecond=0)  # noqa: E731
    return floor(now - since), floor(now) + datetime.timedelta(hours=1)


def adapters_to_read(session, outputs: dict, endpoint: str, namespace: str) -> list[str]:
    from loraplane_core import catalog
    from loraplane_serving.metrics import OTHER
    from loraplane_serving.usage_metrics import BASE

    found = {BASE, OTHER}
    if outputs.get("CatalogTableName"):
        table = session.resource("dynamodb").Table(outputs["CatalogTableName"])
        found |= {item["adapter_name"] for item in catalog.all_items(table) if item.get("adapter_name")}
    pages = session.client("cloudwatch").get_paginator("list_metrics").paginate(
        Namespace=namespace, MetricName="Requests", Dimensions=[{"Name": "EndpointName", "Value": endpoint}])
    for page in pages:
        for metric in page.get("Metrics", []):
            found |= {d["Value"] for d in metric.get("Dimensions", []) if d["Name"] == "Adapter"}
    return sorted(found)


def read(session, endpoint: str, adapters: list[str], start, end, namespace: str) -> dict[str, dict[str, dict]]:
    """adapter -> hour (ISO) -> {requests, prompt_tokens, generated_tokens}; hours without data left out."""
    queries = [(adapter, metric, key) for adapter in adapters for metric, key in COLUMNS]
    cw, found = session.client("cloudwatch"), {}
    for first in range(0, len(queries), MAX_QUERIES):
        chunk = queries[first:first + MAX_QUERIES]
        request = [{"Id": f"q{i}", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions(endpoint, adapter)},
            "Period": PERIOD, "Stat": "Sum"}} for i, (adapter, metric, _) in enumerate(chunk)]
        pages = cw.get_paginator("get_metric_data").paginate(MetricDataQueries=request, StartTime=start, EndTime=end)
        for page in pages:
            for result in page.get("MetricDataResults", []):
                adapter, _, key = chunk[int(result["Id"][1:])]
                for at, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    hour = iso(at)
                    row = found.setdefault(adapter, {}).setdefault(hour, {k: 0 for _, k in COLUMNS})
                    row[key] += int(round(value))
    return found


def dimensions(endpoint: str, adapter: str) -> list[dict]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "Adapter", "Value": adapter}]


def iso(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:00:00Z")


def collect(session, stack: str, since: datetime.timedelta, adapter: str | None = None,
            now: datetime.datetime | None = None) -> dict:
    from loraplane_serving.usage_metrics import NAMESPACE

    from .stack import describe

    outputs, _ = describe(stack, session)
    endpoint = outputs.get("EndpointName")
    if not endpoint:
        raise Usage(f"the stack {stack} has no output EndpointName", "Deploy the current template")
    start, end = window(since, now)
    names = [adapter] if adapter else adapters_to_read(session, outputs, endpoint, NAMESPACE)
    hours = read(session, endpoint, names, start, end, NAMESPACE)
    rows = []
    for name in sorted(hours):
        hourly = [{"hour": hour, **counts} for hour, counts in sorted(hours[name].items())]
        totals = {key: sum(h[key] for h in hourly) for _, key in COLUMNS}
        rows.append({"adapter": name, **totals, "hours": hourly})
    return {"stack": stack, "endpoint": endpoint, "namespace": NAMESPACE, "period_seconds": PERIOD,
            "start": iso(start), "end": iso(end), "adapters": rows}


def render(report: dict, output: str) -> str:
    keys = [key for _, key in COLUMNS]
    if output == "json":
        return json.dumps(report, indent=2)
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["adapter", "hour", *keys])
        for row in report["adapters"]:
            for hour in row["hours"]:
                writer.writerow([row["adapter"], hour["hour"], *(hour[k] for k in keys)])
        return buffer.getvalue().rstrip("\n")
    head = f"usage of {report['endpoint']} from {report['start']} to {report['end']} (hourly sums, UTC)"
    if not report["adapters"]:
        return head + "\n  no requests in this window"
    table = [("adapter", *keys, "hours")] + [(r["adapter"], *(str(r[k]) for k in keys), str(len(r["hours"])))
                                             for r in report["adapters"]]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    return "\n".join([head] + ["  " + "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                                               for i, (c, w) in enumerate(zip(row, widths))) for row in table])
