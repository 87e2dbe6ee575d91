"""The AWS-namespace metrics the stack's alarms and dashboard read, from moto's own state.

moto publishes no AWS/SQS or AWS/States metric (only AWS/S3 bucket sizes, through its
`CloudWatchMetricProvider` hook). This shim adds two providers on the same hook, so the metrics appear
wherever moto's CloudWatch reads metrics (GetMetricStatistics, GetMetricData, ListMetrics) and in the
alarm evaluation (alarm_evaluation.py):

- AWS/SQS, dimension QueueName: ApproximateNumberOfMessagesVisible, ...NotVisible, ...Delayed
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
  They are gauges that SQS samples; `sample()` (called on every alarm evaluation round) reads each queue and
  keeps one statistic set per queue, metric and minute (SQS pushes "at one-minute intervals") for RETENTION.
- AWS/States, dimension StateMachineArn: ExecutionsStarted at each start; ExecutionsSucceeded,
  ExecutionsFailed, ExecutionsTimedOut, ExecutionsAborted (one metric per final status, as Step Functions
  counts them) and ExecutionTime (ms) at each stop
  (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html), read from the
  executions moto keeps, over RETENTION.
"""
import datetime as dt
import threading
from collections import deque
from dataclasses import dataclass

RETENTION = dt.timedelta(hours=26)  # an alarm evaluates at most a day (+ its extra periods)
MINUTE = dt.timedelta(minutes=1)
SQS_GAUGES = {
    "ApproximateNumberOfMessagesVisible": lambda q: q.approximate_number_of_messages,
    "ApproximateNumberOfMessagesNotVisible": lambda q: q.approximate_number_of_messages_not_visible,
    "ApproximateNumberOfMessagesDelayed": lambda q: q.approximate_number_of_messages_delayed,
}
FINAL_STATUS_METRICS = {"SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed",
                        "TIMED_OUT": "ExecutionsTimedOut", "ABORTED": "ExecutionsAborted"}


@dataclass
class Minute:
    """The samples of one gauge in one minute, as a statistic set stamped at the latest sample."""
    start: dt.datetime
    at: dt.datetime
    minimum: float
    maximum: float
    sum: float
    count: int

    def add(self, at: dt.datetime, value: float) -> None:
        self.at, self.minimum, self.maximum = at, min(self.minimum, value), max(self.maximum, value)
        self.sum, self.count = self.sum + value, self.count + 1


_lock = threading.Lock()
_gauges: dict[tuple[str, str, str, str], deque[Minute]] = {}  # (account, region, queue, metric) -> minutes


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def utc(moment: dt.datetime) -> dt.datetime:
    """moto keeps naive UTC datetimes in some places, aware ones in others."""
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def stamp(moment: dt.datetime) -> dt.datetime:
    """A metric's timestamp as moto's CloudWatch keeps them (naive UTC): its queries compare with those."""
    return utc(moment).replace(tzinfo=None)


def record(key: tuple[str, str, str, str], at: dt.datetime, value: float) -> None:
    minute_start = at.replace(second=0, microsecond=0)
    with _lock:
        minutes = _gauges.setdefault(key, deque(maxlen=int(RETENTION / MINUTE) + 1))
        if minutes and minutes[-1].start == minute_start:
            minutes[-1].add(at, value)
        else:
            minutes.append(Minute(minute_start, at, value, value, value, 1))


def sample(at: dt.datetime | None = None) -> None:
    """Reads every queue's gauges once; forgets the queues that are gone."""
    from moto.sqs.models import sqs_backends

    at, seen = at or now(), set()
    for account, regions in list(sqs_backends.items()):
        for region, backend in list(regions.items()):
            for name, queue in list(backend.queues.items()):
                for metric, read in SQS_GAUGES.items():
                    key = (account, region, name, metric)
                    seen.add(key)
                    record(key, at, float(read(queue)))
    with _lock:
        for key in [k for k in _gauges if k not in seen]:
            del _gauges[key]


def forget() -> None:
    with _lock:
        _gauges.clear()


def sqs_metrics(account: str, region: str) -> list:
    from moto.cloudwatch.models import MetricAggregatedDatum

    with _lock:
        series = [(key, list(minutes)) for key, minutes in _gauges.items() if key[:2] == (account, region)]
    return [MetricAggregatedDatum("AWS/SQS", metric, m.minimum, m.maximum, m.count, m.sum,
                                  [{"Name": "QueueName", "Value": queue}], stamp(m.at), "Count")
            for (_, _, queue, metric), minutes in series for m in minutes]


def _status(execution) -> str | None:
    status = getattr(execution, "exec_status", None)  # moto's interpreter: an enum, None until it starts
    if status is not None:
        return getattr(status, "value", status)
    return None if hasattr(execution, "exec_status") else getattr(execution, "status", None)


def states_metrics(account: str, region: str) -> list:
    from moto.cloudwatch.models import MetricDatum
    from moto.stepfunctions.responses import get_backend

    since, out = now() - RETENTION, []
    for machine in list(get_backend(account, region).state_machines):
        dimensions = [{"Name": "StateMachineArn", "Value": machine.arn}]
        for execution in list(machine.executions):
            started, stopped = execution.start_date, getattr(execution, "stop_date", None)
            if started and utc(started) >= since:
                out.append(MetricDatum("AWS/States", "ExecutionsStarted", 1.0, dimensions, stamp(started), "Count"))
            metric = FINAL_STATUS_METRICS.get(_status(execution))
            if stopped and metric and utc(stopped) >= since:
                out.append(MetricDatum("AWS/States", metric, 1.0, dimensions, stamp(stopped), "Count"))
                if started:
                    took = (utc(stopped) - utc(started)).total_seconds() * 1000
                    out.append(MetricDatum("AWS/States", "ExecutionTime", took, dimensions, stamp(stopped),
                                           "Milliseconds"))
    return out


_providers: list[type] = []  # __subclasses__() holds its classes weakly: these keep them


def install() -> None:
    from moto.core.common_models import CloudWatchMetricProvider

    if _providers:
        return

    # moto reads its providers as CloudWatchMetricProvider's direct subclasses: defining them registers them.
    class SqsMetrics(CloudWatchMetricProvider):
        @staticmethod
        def get_cloudwatch_metrics(account_id: str, region: str) -> list:
            return sqs_metrics(account_id, region)

    class StatesMetrics(CloudWatchMetricProvider):
        @staticmethod
        def get_cloudwatch_metrics(account_id: str, region: str) -> list:
            return states_metrics(account_id, region)

    _providers.extend([SqsMetrics, StatesMetrics])
