"""A bound on what moto's CloudWatch keeps: it stores every datapoint PutMetricData (and the containers' EMF
lines) gave it for as long as the process lives, and each alarm round reads them all.

CloudWatch keeps datapoints of a 1-minute period for 15 days (then only 5-minute and 1-hour rollups, for 63
and 455 days: "Metrics retention",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#metrics-retention).
The emulator keeps its raw datapoints that long and no rollups: more than any alarm evaluates
(alarm_rules.MAX_RANGE, 3 days) and than PutMetricData accepts (two weeks back), so alarms and `loraplane
usage` up to two weeks read what they would on AWS. `trim` runs with each alarm round (alarm_evaluation.py).
"""
import datetime as dt
import threading

RETENTION = dt.timedelta(days=15)

# put_metric_data appends to backend.metric_data in a request thread; a trim replaces the list. Without this
# lock an append between the trim's copy and its swap would be lost.
_lock = threading.Lock()


def _utc(moment: dt.datetime) -> dt.datetime:
    """moto keeps naive UTC datetimes in some places, aware ones in others."""
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def trim(backend, at: dt.datetime) -> int:
    """Drops the region's datapoints stamped before `at` - RETENTION; how many were dropped."""
    cutoff = _utc(at) - RETENTION
    with _lock:
        data = backend.metric_data
        kept = [d for d in data if _utc(d.timestamp) >= cutoff]
        if len(kept) < len(data):
            backend.metric_data = kept  # readers (GetMetricData, ...) keep iterating the list they hold
        return len(data) - len(kept)


def install() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    if getattr(CloudWatchBackend.put_metric_data, "_retention", False):
        return
    original = CloudWatchBackend.put_metric_data

    def put_metric_data(self, *args, **kwargs):
        with _lock:
            return original(self, *args, **kwargs)

    put_metric_data._retention = True
    CloudWatchBackend.put_metric_data = put_metric_data
