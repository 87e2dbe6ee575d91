"""CloudWatch metric alarms that evaluate and notify: moto stores alarms and never evaluates them.

Every LORAPLANE_ALARM_INTERVAL_S seconds (default 5; 0 or less: no rounds) a thread of the emulator's
process runs one round (`evaluate_all`, also callable on demand): it samples the SQS gauges
(aws_metrics.py), then decides each alarm's state from its metric's datapoints in moto's CloudWatch
(PutMetricData, EMF, and the AWS/SQS and AWS/States metrics of aws_metrics.py) with alarm_rules.py, and
sets a changed state with moto's SetAlarmState (StateReason, StateReasonData).

As on AWS (PutMetricAlarm and SetAlarmState, CloudWatch API reference): a new alarm starts in
INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"; moto starts it in OK), updating an alarm leaves
its state unchanged (moto resets it), and every state change - an evaluation's or SetAlarmState's -
runs the actions of the new state (AlarmActions, OKActions, InsufficientDataActions) when ActionsEnabled:
each SNS topic gets CloudWatch's notification (alarm_notice.py). Other actions (Auto Scaling, EC2,
Lambda, Systems Manager) are not run.

A round reads only the datapoints of the longest evaluation range (alarm_rules.MAX_RANGE) and trims what
moto's CloudWatch keeps to CloudWatch's retention (metric_retention.py), so neither grows with uptime.
Evaluator.stop() and each change a round makes (a state set, its notification, the gauges sampled, a trim)
take the same lock, and a stopped round changes nothing more: once stop() returns, its thread changes
nothing, even when it is still finishing a round (a join that timed out).

Not evaluated (their state is whatever SetAlarmState last set): composite alarms, metric math and
anomaly detection alarms, and alarms on an AWS namespace the emulator does not produce (AWS/SageMaker:
local hosting publishes no invocation metrics), which would otherwise only ever see missing data.
"""
import datetime as dt
import json
import logging
import os
import threading
from contextlib import contextmanager, nullcontext

from ..alarm_notice import AlarmView, encode, message, subject
from ..alarm_rules import (ALARM, INSUFFICIENT, MAX_RANGE, OK, Rule, Sample, UnsupportedAlarm, evaluate, points,
                           reason_data)
from . import aws_metrics, metric_retention

log = logging.getLogger("loraplane.emulator")

INTERVAL_ENV, DEFAULT_INTERVAL = "LORAPLANE_ALARM_INTERVAL_S", 5.0
MAX_ALARMS = 5000  # per account and region in one round (bounded work)
PRODUCED_AWS_NAMESPACES = {"AWS/SQS", "AWS/States"}  # aws_metrics.py
INITIAL_REASON = "Unchecked: Initial alarm creation"

_round = threading.Lock()


def interval() -> float:
    try:
        return float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL


def rule_of(alarm) -> Rule:
    """The alarm's rule; UnsupportedAlarm for an alarm this shim does not evaluate."""
    if getattr(alarm, "rule", None) or alarm.metric_data_queries or alarm.threshold_metric_id:
        raise UnsupportedAlarm("composite, metric math or anomaly detection alarm")
    if not alarm.namespace or not alarm.metric_name:
        raise UnsupportedAlarm("no metric")
    if alarm.namespace.startswith("AWS/") and alarm.namespace not in PRODUCED_AWS_NAMESPACES:
        raise UnsupportedAlarm(f"the emulator produces no {alarm.namespace} metrics")
    return Rule.of(statistic=alarm.statistic, extended_statistic=alarm.extended_statistic, period=alarm.period,
                   evaluation_periods=alarm.evaluation_periods, threshold=alarm.threshold,
                   comparison_operator=alarm.comparison_operator, datapoints_to_alarm=alarm.datapoints_to_alarm,
                   treat_missing_data=alarm.treat_missing_data,
                   evaluate_low_sample_count_percentile=alarm.evaluate_low_sample_count_percentile)


def view(alarm, account: str) -> AlarmView:
    return AlarmView(
        name=alarm.name, arn=alarm.alarm_arn, description=alarm.description or None, account=account,
        region=alarm.region_name, namespace=alarm.namespace, metric_name=alarm.metric_name,
        dimensions=tuple((d.name, d.value) for d in alarm.dimensions), statistic=alarm.statistic,
        extended_statistic=alarm.extended_statistic, unit=alarm.unit, period=alarm.period,
        evaluation_periods=alarm.evaluation_periods, datapoints_to_alarm=alarm.datapoints_to_alarm,
        comparison=alarm.comparison_operator, threshold=alarm.threshold, treat_missing=alarm.treat_missing_data,
        low_sample=alarm.evaluate_low_sample_count_percentile, alarm_actions=tuple(alarm.alarm_actions or ()),
        ok_actions=tuple(alarm.ok_actions or ()),
        insufficient_data_actions=tuple(alarm.insufficient_data_actions or ()),
        configuration_updated=alarm.configuration_updated_timestamp)


def run_actions(account: str, alarm, old_state: str) -> None:
    """The new state's actions; an SNS topic gets the notification, other actions are not emulated."""
    if not alarm.actions_enabled:
        return
    actions = {ALARM: alarm.alarm_actions, OK: alarm.ok_actions, INSUFFICIENT: alarm.insufficient_data_actions}
    for arn in actions.get(alarm.state_value) or ():
        parts = str(arn).split(":")
        if len(parts) < 6 or parts[2] != "sns":
            log.debug("alarm %s: action %s is not emulated", alarm.name, arn)
            continue
        from moto.sns.models import sns_backends

        note = message(view(alarm, account), old_state, alarm.state_value, alarm.state_reason,
                       alarm.state_updated_timestamp)
        try:  # CloudWatch does not check its actions: a topic that is gone loses the notification
            sns_backends[parts[4]][parts[3]].publish(encode(note), arn=arn,
                                                      subject=subject(alarm.state_value, alarm.name, alarm.region_name))
        except Exception:  # noqa: BLE001
            log.warning("alarm %s: notification to %s failed", alarm.name, arn, exc_info=True)


def _utc(moment: dt.datetime) -> dt.datetime:
    return aws_metrics.utc(moment)


def _sample(datum) -> Sample:
    if hasattr(datum, "value"):
        return Sample.of(float(datum.value))
    return Sample(float(datum.sum), float(datum.min), float(datum.max), float(datum.sample_count))


def _index(backend, since: dt.datetime) -> dict[tuple[str, str], list]:
    """The region's metric data since `since` by (namespace, name): what was put, and the metrics of
    aws_metrics.py (not moto's other provider, AWS/S3 bucket sizes, which no evaluated alarm reads and which
    walks every key)."""
    account, region = backend.account_id, backend.region_name
    index: dict[tuple[str, str], list] = {}
    for datum in [*list(backend.metric_data), *aws_metrics.sqs_metrics(account, region),
                  *aws_metrics.states_metrics(account, region)]:
        if _utc(datum.timestamp) >= since:
            index.setdefault((datum.namespace, datum.name), []).append(datum)
    return index


def samples_of(alarm, index: dict) -> list[tuple[dt.datetime, Sample]]:
    """The samples of the alarm's metric: same namespace, name and dimensions (exactly: each combination of
    dimensions is a metric of its own), and the alarm's Unit when it has one."""
    wanted = {(d.name, d.value) for d in alarm.dimensions}
    return [(_utc(d.timestamp), _sample(d)) for d in index.get((alarm.namespace, alarm.metric_name), ())
            if {(x.name, x.value) for x in d.dimensions} == wanted and (not alarm.unit or d.unit == alarm.unit)]


class Stopped(Exception):
    """The round's evaluator was stopped: the round changes nothing more."""


class Run:
    """One evaluator thread's rounds. `change()` guards each change a round makes; `stop()` takes the same
    lock, so once it returns no change of this run happens any more."""

    def __init__(self):
        self._lock = threading.Lock()
        self.stopped = False

    @contextmanager
    def change(self):
        with self._lock:
            if self.stopped:
                raise Stopped()
            yield

    def stop(self) -> None:
        with self._lock:  # waits for a change in progress (a state set and its notification)
            self.stopped = True


def evaluate_all(at: dt.datetime | None = None, run: Run | None = None) -> list[tuple[str, str, str]]:
    """One round over every alarm of every account and region: (alarm, old state, new state) per change.
    With `run`, each change is made only while the run is not stopped (Stopped otherwise)."""
    from moto.cloudwatch.models import cloudwatch_backends

    guard = run.change if run else nullcontext
    changes = []
    with _round:
        at = at or aws_metrics.now()
        with guard():
            aws_metrics.sample(at)
        for _account, regions in list(cloudwatch_backends.items()):
            for _region, backend in list(regions.items()):
                with guard():
                    metric_retention.trim(backend, at)
                index = None
                for alarm in list(backend.alarms.values())[:MAX_ALARMS]:
                    try:
                        rule = rule_of(alarm)
                    except UnsupportedAlarm:
                        continue
                    if index is None:  # once per region and round, only where an alarm is evaluated
                        index = _index(backend, _utc(at) - MAX_RANGE)
                    old = alarm.state_value
                    decision = evaluate(rule, points(rule, at, samples_of(alarm, index)), old)
                    if decision.state is None or decision.state == old:
                        continue
                    data = json.dumps(reason_data(rule, decision, at, alarm.unit))
                    try:
                        with guard():
                            backend.set_alarm_state(alarm.name, decision.reason, data, decision.state)
                    except Stopped:
                        raise
                    except Exception:  # noqa: BLE001 - deleted meanwhile
                        log.debug("alarm %s: state not set", alarm.name, exc_info=True)
                        continue
                    changes.append((alarm.name, old, decision.state))
    return changes


class Evaluator:
    """The rounds' thread: started and stopped with the emulator's server. stop() may be called any number of
    times, before start() too; a start() after it begins a new run."""

    def __init__(self, round_=None):
        self._one_round = round_ or evaluate_all  # evaluate_all(run=...), or a test's own round
        self._lock = threading.Lock()  # start() and stop() one at a time
        self._run: Run | None = None
        self._wake: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._run and not self._run.stopped:
                return
            self._run, self._wake = Run(), threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._run, self._wake), name="alarm-evaluation",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        with self._lock:
            run, wake, thread = self._run, self._wake, self._thread
            if run is not None:
                run.stop()  # from here on its thread changes nothing
                wake.set()
            if thread is not None:
                thread.join(timeout)
                if thread.is_alive():
                    log.warning("the alarm evaluation round still runs; it changes nothing any more")
            self._thread = None
        aws_metrics.forget()  # the gauges' history goes with the emulator

    def _loop(self, run: Run, wake: threading.Event) -> None:
        while not wake.wait(interval() if interval() > 0 else 1.0):
            if interval() <= 0:
                continue
            try:
                self._one_round(run=run)
            except Stopped:
                return
            except Exception:  # noqa: BLE001 - a round that fails is retried by the next one
                log.warning("alarm evaluation round failed", exc_info=True)
            if run.stopped:
                return


_evaluator = Evaluator()


def evaluator() -> Evaluator:
    return _evaluator


def install() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    original_put, original_set = CloudWatchBackend.put_metric_alarm, CloudWatchBackend.set_alarm_state

    def put_metric_alarm(self, *args, **kwargs):
        name = kwargs["name"] if "name" in kwargs else args[0]
        previous = self.alarms.get(name)
        alarm = original_put(self, *args, **kwargs)
        if previous is None:
            alarm.state_value, alarm.state_reason = INSUFFICIENT, INITIAL_REASON
        else:  # the state is the alarm's, not its configuration's
            for attribute in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp",
                              "history"):
                setattr(alarm, attribute, getattr(previous, attribute))
        return alarm

    def set_alarm_state(self, alarm_name, reason, reason_data, state_value):
        alarm = self.alarms.get(alarm_name)
        old = alarm.state_value if alarm is not None else None
        original_set(self, alarm_name, reason, reason_data, state_value)
        if alarm is not None and old != state_value:
            run_actions(self.account_id, alarm, old)

    CloudWatchBackend.put_metric_alarm = put_metric_alarm
    CloudWatchBackend.set_alarm_state = set_alarm_state
    aws_metrics.install()
    metric_retention.install()
