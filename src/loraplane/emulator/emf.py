"""What CloudWatch Logs does with a SageMaker container's output, for local hosting: every log line that
is an embedded metric format (EMF) document becomes metric data points in the emulator's CloudWatch.

Local hosting writes each container's stdout to a log file; `LogMetrics` reads what each file gained
(one thread for all of them) and calls PutMetricData for each document, at the document's Timestamp.
The rules followed are the specification's
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
a log event that is not a JSON object with `_aws.CloudWatchMetrics` and `_aws.Timestamp` stays a plain log
line; a document that breaks the rules (a directive without Namespace, a dimension or metric naming a
member that is missing or of the wrong type, more than 30 dimensions in a set, 100 metrics in a directive
or 100 values in a metric) yields no metric at all; each dimension set of a directive is a metric of its
own; values older than two weeks or more than two hours ahead are dropped, as CloudWatch drops them.
"""
import datetime
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("loraplane.emulator")

MAX_LINE = 2**20  # a document's size limit (1 MB): a longer line is skipped unread
READ_CHUNK = 4 * 2**20
MAX_DIMENSIONS, MAX_METRICS, MAX_VALUES = 30, 100, 100
PAST, FUTURE = datetime.timedelta(days=14), datetime.timedelta(hours=2)
POLL_SECONDS = 0.5


class NotEmf(ValueError):
    """A line that yields no metric (why, for tests)."""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_data(doc, now: datetime.datetime | None = None) -> list[tuple[str, dict]]:
    """(namespace, a PutMetricData MetricDatum) for each metric one EMF document stands for; NotEmf if none."""
    aws = doc.get("_aws") if isinstance(doc, dict) else None
    if not isinstance(aws, dict) or not isinstance(aws.get("CloudWatchMetrics"), list):
        raise NotEmf("no _aws.CloudWatchMetrics")
    if not _number(aws.get("Timestamp")) or aws["Timestamp"] < 0:
        raise NotEmf("_aws.Timestamp is not a number of milliseconds")
    try:
        at = datetime.datetime.fromtimestamp(aws["Timestamp"] / 1000, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise NotEmf("_aws.Timestamp is out of range") from None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not now - PAST <= at <= now + FUTURE:
        raise NotEmf("_aws.Timestamp is more than two weeks old or two hours ahead")
    out = []
    for directive in aws["CloudWatchMetrics"]:
        out += _directive(doc, directive, at)
    return out


def _directive(doc: dict, directive, at: datetime.datetime) -> list[tuple[str, dict]]:
    if not isinstance(directive, dict):
        raise NotEmf("a MetricDirective is not an object")
    namespace, sets, metrics = directive.get("Namespace"), directive.get("Dimensions"), directive.get("Metrics")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
        raise NotEmf("Namespace is not a string of 1-255 characters")
    if not isinstance(sets, list) or not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
        raise NotEmf("Dimensions or Metrics is not an array (or more than 100 metrics)")
    dimension_sets = []
    for keys in sets or [[]]:  # no dimension set: the metrics without dimensions
        if not isinstance(keys, list) or len(keys) > MAX_DIMENSIONS:
            raise NotEmf("a DimensionSet is not an array of at most 30 keys")
        if not all(isinstance(k, str) and isinstance(doc.get(k), str) and 1 <= len(doc[k]) <= 1024 for k in keys):
            raise NotEmf("a dimension names no string member of the document")
        dimension_sets.append([{"Name": k, "Value": doc[k]} for k in keys])
    out = []
    for metric in metrics:
        name = metric.get("Name") if isinstance(metric, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            raise NotEmf("a MetricDefinition has no Name")
        values = doc.get(name)
        values = values if isinstance(values, list) else [values]
        if not values or len(values) > MAX_VALUES or not all(_number(v) for v in values):
            raise NotEmf(f"metric {name[:64]}: its member is not a number or an array of up to 100 numbers")
        unit = metric.get("Unit", "None")
        for dimensions in dimension_sets:
            datum = {"MetricName": name, "Dimensions": dimensions, "Timestamp": at, "Values": values,
                     "Unit": unit if isinstance(unit, str) else "None"}
            if metric.get("StorageResolution") == 1:
                datum["StorageResolution"] = 1
            out.append((namespace, datum))
    return out


def parse_line(line: bytes, now: datetime.datetime | None = None) -> list[tuple[str, dict]]:
    """The metrics of one log line ([] for a plain log line or an invalid document)."""
    if len(line) > MAX_LINE or not line.lstrip().startswith(b"{") or b'"_aws"' not in line:
        return []
    try:
        return metric_data(json.loads(line), now)
    except (NotEmf, ValueError, RecursionError):
        return []


@dataclass
class Tail:
    region: str
    offset: int = 0
    skipping: bool = False  # inside a line longer than MAX_LINE


class LogMetrics:
    """Tails container log files; `put(region, namespace, metric_data)` publishes (PutMetricData)."""

    def __init__(self, put):
        self.put = put
        self.tails: dict[Path, Tail] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None  # a daemon: it follows the logs while the process lives

    def watch(self, path: Path, region: str) -> None:
        with self.lock:
            self.tails[Path(path)] = Tail(region)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="emf-log-metrics", daemon=True)
                self.thread.start()

    def forget(self, path: Path) -> None:
        """Read what the log gained (the container's last flush), then stop following it."""
        try:
            self.read(Path(path))
        except Exception:  # noqa: BLE001 - the emulator may be gone already
            log.debug("EMF metrics of %s not published", path, exc_info=True)
        with self.lock:
            self.tails.pop(Path(path), None)

    def _loop(self) -> None:
        while True:
            time.sleep(POLL_SECONDS)
            with self.lock:
                paths = list(self.tails)
            for path in paths:
                try:
                    self.read(path)
                except Exception:  # noqa: BLE001 - a failed put drops those points, as a lost log event would
                    log.debug("EMF metrics of %s not published", path, exc_info=True)

    def read(self, path: Path) -> None:
        with self.lock:  # one reader per file at a time: the loop and forget() may race
            tail = self.tails.get(path)
            if tail is None:
                return
            lines = self._new_lines(path, tail)
        by_namespace: dict[str, list[dict]] = {}
        for line in lines:
            for namespace, datum in parse_line(line):
                by_namespace.setdefault(namespace, []).append(datum)
        for namespace, data in by_namespace.items():
            for i in range(0, len(data), 1000):  # PutMetricData takes at most 1000 data per call
                self.put(tail.region, namespace, data[i:i + 1000])

    @staticmethod
    def _new_lines(path: Path, tail: Tail) -> list[bytes]:
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                if f.tell() < tail.offset:  # truncated: start again
                    tail.offset = 0
                f.seek(tail.offset)
                data = f.read(READ_CHUNK)
        except OSError:
            return []
        *lines, rest = data.split(b"\n")
        tail.offset += len(data) - len(rest)
        if lines and tail.skipping:  # the end of a line too long to read
            lines, tail.skipping = lines[1:], False
        if len(rest) > MAX_LINE:
            tail.offset, tail.skipping = tail.offset + len(rest), True
        return [line for line in lines if len(line) <= MAX_LINE]
