"""When a CloudWatch metric alarm changes state: CloudWatch's documented decision, as pure functions.

Source: "Using Amazon CloudWatch alarms"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html): each period
of length Period gives one datapoint (the statistic of the values in it); the alarm looks at the last
EvaluationPeriods (N) datapoints and goes to ALARM when DatapointsToAlarm (M) of them breach ("M out of
N"). CloudWatch retrieves more periods than N, the evaluation range (here N + 2: the doc's examples
retrieve 5 for N = 3); with at least N real datapoints in it, the newest N decide and TreatMissingData
does not matter; with fewer, missing ones are filled in as TreatMissingData says, as few as possible,
and every real datapoint of the range counts. The doc's two tables of examples are unit tests
(tests/unit/test_alarm_rules.py).
"""
import datetime as dt
import math
import re
from dataclasses import dataclass

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT)
# ComparisonOperator -> (the words of StateReason, the test). The anomaly-detection operators compare
# with a band (ThresholdMetricId): not evaluated here.
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")  # TreatMissingData; default missing
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
EXTRA_PERIODS = 2  # evaluation range = N + 2 periods
MAX_SECONDS = 86400  # "The number of evaluation periods ... multiplied by the length of each ... cannot exceed one day"
# The longest evaluation range any alarm has: one period of a day, plus the extra periods.
MAX_RANGE = dt.timedelta(seconds=MAX_SECONDS * (1 + EXTRA_PERIODS))
_PERCENTILE = re.compile(r"p(\d{1,3}(?:\.\d{1,10})?)")


class UnsupportedAlarm(ValueError):
    """An alarm this evaluator leaves alone: metric math, anomaly detection, a statistic it does not
    compute, or a definition CloudWatch would have refused."""


@dataclass(frozen=True)
class Rule:
    """What decides an alarm's state (its metric aside)."""
    statistic: str  # one of STATISTICS, or a percentile "p90"
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str = "missing"
    low_sample: str = "evaluate"  # EvaluateLowSampleCountPercentile (percentiles only)

    @property
    def percentile(self) -> float | None:
        return float(self.statistic[1:]) if self.statistic.startswith("p") else None

    @property
    def range_periods(self) -> int:
        return self.evaluation_periods + EXTRA_PERIODS

    @classmethod
    def of(cls, *, statistic=None, extended_statistic=None, period, evaluation_periods, threshold,
           comparison_operator, datapoints_to_alarm=None, treat_missing_data=None,
           evaluate_low_sample_count_percentile=None) -> "Rule":
        """The rule of a PutMetricAlarm definition; UnsupportedAlarm if it has none this module evaluates."""
        try:
            period, n = _whole(period), _whole(evaluation_periods)
            m = n if datapoints_to_alarm in (None, "") else _whole(datapoints_to_alarm)
            threshold = float(threshold)
        except (TypeError, ValueError, OverflowError):
            raise UnsupportedAlarm("Period, EvaluationPeriods, DatapointsToAlarm or Threshold: not a number") from None
        if bool(statistic) == bool(extended_statistic):
            raise UnsupportedAlarm("exactly one of Statistic and ExtendedStatistic is needed")
        if statistic and statistic not in STATISTICS:
            raise UnsupportedAlarm(f"Statistic {statistic!r} is not one of {', '.join(STATISTICS)}")
        if extended_statistic:
            match = _PERCENTILE.fullmatch(str(extended_statistic))
            if not match or not 0 <= float(match.group(1)) <= 100:
                raise UnsupportedAlarm(f"ExtendedStatistic {extended_statistic!r}: only percentiles p0-p100")
        if period not in (10, 20, 30) and (period <= 0 or period % 60):
            raise UnsupportedAlarm(f"Period {period}: 10, 20, 30 or a multiple of 60")
        if not 1 <= m <= n or n * period > MAX_SECONDS:
            raise UnsupportedAlarm("1 <= DatapointsToAlarm <= EvaluationPeriods, and at most one day evaluated")
        if comparison_operator not in COMPARISONS:
            raise UnsupportedAlarm(f"ComparisonOperator {comparison_operator!r} (anomaly detection) is not evaluated")
        if not math.isfinite(threshold):
            raise UnsupportedAlarm("Threshold is not a finite number")
        treat = treat_missing_data or "missing"
        if treat not in TREATMENTS:
            raise UnsupportedAlarm(f"TreatMissingData {treat!r} is not one of {', '.join(TREATMENTS)}")
        low = evaluate_low_sample_count_percentile or "evaluate"
        return cls(statistic or str(extended_statistic), period, n, m, threshold, comparison_operator, treat, low)

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison][1](value, self.threshold)


def _whole(value) -> int:
    """An integer parameter: 60 or "60", not 60.5 or True."""
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError(value)
    return int(float(value))


@dataclass(frozen=True)
class Sample:
    """One value of PutMetricData, or a statistic set (StatisticValues)."""
    sum: float
    minimum: float
    maximum: float
    count: float

    @classmethod
    def of(cls, value: float) -> "Sample":
        return cls(value, value, value, 1.0)


@dataclass(frozen=True)
class Point:
    """One period of the evaluation range: its start and datapoint (None: missing)."""
    start: dt.datetime
    value: float | None = None
    count: float = 0.0


@dataclass(frozen=True)
class Decision:
    state: str | None  # None: the state stays (TreatMissingData ignore, or too few samples for a percentile)
    reason: str
    evaluated: tuple[Point, ...] = ()  # the real datapoints that decided, oldest first
    filled: int = 0  # missing datapoints filled in as TreatMissingData says


def period_starts(now: dt.datetime, rule: Rule) -> list[dt.datetime]:
    """The starts of the evaluation range's periods, oldest first; the newest period ends at `now` (included)."""
    return [now - dt.timedelta(seconds=rule.period * (rule.range_periods - i)) for i in range(rule.range_periods)]


def aggregate(statistic: str, samples: list[Sample]) -> tuple[float, float] | None:
    """(datapoint, sample count) of one period's samples; None when the period has no datapoint."""
    count = sum(s.count for s in samples)
    if not samples or count <= 0:
        return None
    if statistic == "SampleCount":
        return count, count
    if statistic == "Sum":
        return sum(s.sum for s in samples), count
    if statistic == "Average":
        return sum(s.sum for s in samples) / count, count
    if statistic == "Minimum":
        return min(s.minimum for s in samples), count
    if statistic == "Maximum":
        return max(s.maximum for s in samples), count
    # A percentile needs the values themselves: a statistic set gives them only when its SampleCount
    # is 1 or its Minimum equals its Maximum (GetMetricStatistics, API reference). Nearest rank.
    values = sorted((s.minimum, s.count) for s in samples if s.count == 1 or s.minimum == s.maximum)
    total = sum(c for _, c in values)
    if total <= 0:
        return None
    rank, seen = max(math.ceil(float(statistic[1:]) / 100 * total), 1), 0.0
    for value, c in values:
        seen += c
        if seen >= rank:
            return value, count
    return values[-1][0], count


def points(rule: Rule, now: dt.datetime, samples: list[tuple[dt.datetime, Sample]]) -> list[Point]:
    """The evaluation range's datapoints from timestamped samples (those outside it are ignored)."""
    starts = period_starts(now, rule)
    buckets: list[list[Sample]] = [[] for _ in starts]
    for at, sample in samples:
        if starts[0] <= at <= now:  # a sample taken at `now` is the newest period's
            buckets[min(math.floor((at - starts[0]).total_seconds() / rule.period), len(starts) - 1)].append(sample)
    out = []
    for start, bucket in zip(starts, buckets):
        datapoint = aggregate(rule.statistic, bucket)
        out.append(Point(start, *datapoint) if datapoint else Point(start))
    return out


def too_few_samples(rule: Rule, count: float) -> bool:
    """Below statistical significance for the alarm's percentile (AlarmThatSendsEmail.html, "Percentile-based
    alarms and low data samples": 10/(1-p) samples for p in [0.5, 1), 10/p below 0.5)."""
    p = rule.percentile
    if p is None or p <= 0 or p >= 100:
        return False
    p /= 100
    return count < round(10 / (1 - p) if p >= 0.5 else 10 / p, 9)  # 10 / (1 - 0.9): 100, not 100.00000000000001


def evaluate(rule: Rule, range_points: list[Point], current: str) -> Decision:
    """The alarm's state after this evaluation of its evaluation range (oldest first)."""
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    real = [p for p in range_points if p.value is not None]
    if rule.low_sample == "ignore" and any(too_few_samples(rule, p.count) for p in real[-n:]):
        return Decision(None, "too few samples for the percentile: the alarm keeps its state")
    breaching = [p for p in real if rule.breaches(p.value)]
    if len(real) >= n:  # enough real datapoints: the newest N decide, missing data does not matter
        used = tuple(real[-n:])
        hits = sum(rule.breaches(p.value) for p in used)
        return _crossed(rule, ALARM if hits >= m else OK, current, used, 0, hits)
    missing = n - len(real)
    if rule.treat_missing == "breaching":
        hits = len(breaching) + missing
        return _crossed(rule, ALARM if hits >= m else OK, current, tuple(real), missing, hits)
    if rule.treat_missing == "notBreaching":
        hits = len(breaching)
        return _crossed(rule, ALARM if hits >= m else OK, current, tuple(real), missing, hits)
    # missing / ignore: decided by the real datapoints when they can decide
    if len(breaching) >= m:
        return _crossed(rule, ALARM, current, tuple(real), 0, len(breaching))
    if len(breaching) < len(real):  # a real datapoint within the threshold
        return _crossed(rule, OK, current, tuple(real), 0, len(breaching))
    if rule.treat_missing == "ignore":
        return Decision(None, "missing data ignored: the alarm keeps its state")
    if real and all(p.value is None for p in range_points[-n:]):
        # Only breaching datapoints, all before the last N periods: the metric stopped while breaching.
        # The doc's first table, sixth row ("X - - - -": ALARM even when missing data is missing).
        return _crossed(rule, ALARM, current, tuple(real), 0, len(breaching))
    return Decision(INSUFFICIENT, f"Insufficient Data: {_count(missing, 'datapoint')} {_was(missing)} unknown.",
                    tuple(real))


def _crossed(rule: Rule, state: str, current: str, used: tuple[Point, ...], filled: int, hits: int) -> Decision:
    """StateReason in CloudWatch's words ("Threshold Crossed: 1 out of the last 1 datapoints [1.0 (24/05/25
    10:15:00)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).")."""
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    words = COMPARISONS[rule.comparison][0]
    as_breaching = rule.treat_missing == "breaching"
    if not used:
        return Decision(state, f"Threshold Crossed: no datapoints were received for {_count(n, 'period')} and "
                               f"{_count(filled, 'missing datapoint')} {_was(filled)} treated as "
                               f"[{'Breaching' if as_breaching else 'NonBreaching'}].", used, filled)
    if state == ALARM:
        shown, k, negation, needed = [p for p in used if rule.breaches(p.value)], hits, "", m
    else:
        shown, k, negation, needed = [p for p in used if not rule.breaches(p.value)], n - hits, "not ", n - m + 1
    listing = ", ".join(f"{p.value!r} ({p.start:%d/%m/%y %H:%M:%S})" for p in reversed(shown))
    fill = (f" ({_count(filled, 'missing datapoint')} treated as [{'Breaching' if as_breaching else 'NonBreaching'}])"
            if filled else "")
    return Decision(state, f"Threshold Crossed: {k} out of the last {n} datapoints [{listing}] {_was(k)} "
                           f"{negation}{words} the threshold ({rule.threshold!r}){fill} (minimum "
                           f"{_count(needed, 'datapoint')} for {current} -> {state} transition).", used, filled)


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}{'' if k == 1 else 's'}"


def _was(k: int) -> str:
    return "was" if k == 1 else "were"


def reason_data(rule: Rule, decision: Decision, now: dt.datetime, unit: str | None = None) -> dict:
    """StateReasonData as CloudWatch writes it for a threshold alarm (newest datapoint first)."""
    used = list(reversed(decision.evaluated))
    data = {"version": "1.0", "queryDate": iso(now),
            "startDate": iso(decision.evaluated[0].start if decision.evaluated else now),
            "statistic" if rule.percentile is None else "extendedStatistic": rule.statistic,
            "period": rule.period, "recentDatapoints": [p.value for p in used], "threshold": rule.threshold,
            "evaluatedDatapoints": [{"timestamp": iso(p.start), "sampleCount": p.count, "value": p.value}
                                    for p in used]}
    if unit:
        data["unit"] = unit
    return data


def iso(moment: dt.datetime) -> str:
    """CloudWatch's timestamps in notifications: 2015-06-03T17:43:27.123+0000 (UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    moment = moment.astimezone(dt.timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"
