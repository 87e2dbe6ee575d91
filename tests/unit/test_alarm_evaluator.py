"""The alarm evaluator's thread and what it keeps, without the emulator's server: stop() is safe to call at any
time and, once it returns, the thread changes nothing even while it finishes a round (a join that timed out);
moto's CloudWatch datapoints are trimmed to CloudWatch's retention."""
import contextlib
import datetime as dt
import threading

import boto3
import pytest

from loraplane.emulator.shims import alarm_evaluation, metric_retention


@pytest.fixture
def fast_rounds(monkeypatch):
    monkeypatch.setenv(alarm_evaluation.INTERVAL_ENV, "0.01")


def test_stop_can_be_called_any_time(fast_rounds, monkeypatch):
    rounds = []
    monkeypatch.setattr(alarm_evaluation, "evaluate_all", lambda at=None, run=None: rounds.append(run))
    evaluator = alarm_evaluation.Evaluator()
    evaluator.stop()  # before start
    evaluator.start()
    evaluator.start()  # one thread, not two
    assert sum(t.name == "alarm-evaluation" and t.is_alive() for t in threading.enumerate()) >= 1
    evaluator.stop()
    evaluator.stop()
    seen = len(rounds)
    evaluator.start()  # a new run after a stop
    for _ in range(3000):
        if len(rounds) > seen:
            break
        threading.Event().wait(0.01)
    evaluator.stop()
    assert len(rounds) > seen


def test_a_round_that_outlives_stop_changes_nothing(fast_rounds, monkeypatch):
    entered, release, changes, rounds = threading.Event(), threading.Event(), [], []

    def slow_round(at=None, run=None):
        """A round that is still deciding when stop() gives up waiting, then sets a state."""
        rounds.append(1)
        entered.set()
        release.wait(30)
        with (run.change if run else contextlib.nullcontext)():
            changes.append("state set")

    monkeypatch.setattr(alarm_evaluation, "evaluate_all", slow_round)
    evaluator = alarm_evaluation.Evaluator()
    evaluator.start()
    thread = evaluator._thread
    assert entered.wait(30)
    evaluator.stop(timeout=0.05)  # the join times out: the round is still running
    release.set()
    thread.join(30)
    assert not thread.is_alive()
    assert changes == [] and rounds == [1]  # no change after stop() returned, and no other round


def test_datapoints_older_than_cloudwatchs_retention_are_dropped(in_process_aws):
    from moto.cloudwatch.models import cloudwatch_backends

    metric_retention.install()
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-3")
    namespace, now = f"Retention/{in_process_aws}", dt.datetime.now(dt.timezone.utc)
    for days in (16, 14, 0):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
            {"MetricName": "Requests", "Value": days, "Timestamp": now - dt.timedelta(days=days)}])
    backend = cloudwatch_backends["123456789012"]["eu-west-3"]

    def ours() -> list[float]:
        return sorted(d.value for d in backend.metric_data if d.namespace == namespace)

    assert ours() == [0, 14, 16]
    assert metric_retention.trim(backend, now) >= 1
    assert ours() == [0, 14]  # two weeks back is kept: PutMetricData accepts that much
    assert metric_retention.trim(backend, now + dt.timedelta(days=15)) >= 1 and ours() == [0]
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "Requests", "Value": 1}])
    assert ours() == [0, 1]  # puts go on into the trimmed list
