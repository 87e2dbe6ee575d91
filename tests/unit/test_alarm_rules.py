"""The emulator's alarm decision (loraplane.emulator.alarm_rules) against CloudWatch's documentation,
without moto: the doc's example tables row by row, "M out of N", statistics, and properties."""
import datetime as dt
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loraplane.emulator import alarm_notice
from loraplane.emulator.alarm_rules import (ALARM, COMPARISONS, INSUFFICIENT, OK, STATES, STATISTICS, TREATMENTS,
                                            Point, Rule, Sample, UnsupportedAlarm, aggregate, evaluate,
                                            period_starts, points, reason_data)

T0 = dt.datetime(2025, 5, 24, 10, 0, tzinfo=dt.timezone.utc)
VALUES = {"0": 0.0, "X": 5.0, "-": None}  # the doc's notation: not breaching, breaching, missing


def rule(m: int = 3, n: int = 3, treat: str = "missing", **kw) -> Rule:
    return Rule.of(statistic=kw.pop("statistic", "Maximum"), period=kw.pop("period", 300), evaluation_periods=n,
                   datapoints_to_alarm=m, threshold=kw.pop("threshold", 1.0),
                   comparison_operator=kw.pop("comparison", "GreaterThanOrEqualToThreshold"),
                   treat_missing_data=treat, **kw)


def range_of(row: str, period: int = 300) -> list[Point]:
    """'0 - X - X' (oldest first) -> the evaluation range's points."""
    return [Point(T0 + dt.timedelta(seconds=period * i), VALUES[c], 1.0 if VALUES[c] is not None else 0.0)
            for i, c in enumerate(row.split())]


# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html, "How alarm state
# is evaluated when data is missing": 5 datapoints retrieved; columns MISSING, IGNORE, BREACHING, NOT BREACHING.
RETAIN = "retain current state"
THREE_OF_THREE = [
    ("0 - X - X", (OK, OK, OK, OK)),
    ("0 - - - -", (OK, OK, OK, OK)),
    ("- - - - -", (INSUFFICIENT, RETAIN, ALARM, OK)),
    ("0 X X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("- - - - X", (INSUFFICIENT, RETAIN, ALARM, OK)),
    ("X - - - -", (ALARM, RETAIN, ALARM, OK)),
]
TWO_OF_THREE = [
    ("0 - X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 - X - -", (OK, OK, ALARM, OK)),
    ("- - - - 0", (OK, OK, ALARM, OK)),
    ("- - - - X", (INSUFFICIENT, RETAIN, ALARM, OK)),
]


@pytest.mark.parametrize("m,row,expected", [(3, *r) for r in THREE_OF_THREE] + [(2, *r) for r in TWO_OF_THREE])
@pytest.mark.parametrize("current", STATES)
def test_the_documented_examples(m, row, expected, current):
    for treat, want in zip(("missing", "ignore", "breaching", "notBreaching"), expected):
        decision = evaluate(rule(m, 3, treat), range_of(row), current)
        assert (decision.state or RETAIN) == want, (row, treat, decision.reason)


def test_the_evaluation_range_is_n_plus_two_periods_ending_now():
    r = rule(2, 3)
    starts = period_starts(T0, r)
    assert len(starts) == 5
    assert starts[-1] == T0 - dt.timedelta(seconds=300) and starts[0] == T0 - dt.timedelta(seconds=1500)


def test_samples_fall_into_their_periods_and_outside_ones_are_ignored():
    r = rule(1, 1, statistic="Sum", period=60)  # range: 3 periods, [T0-180, T0]
    at = lambda s: T0 + dt.timedelta(seconds=s)  # noqa: E731
    got = points(r, T0, [(at(-181), Sample.of(100)), (at(-180), Sample.of(1)), (at(-121), Sample.of(2)),
                         (at(-60), Sample.of(4)), (at(-1), Sample.of(8)), (at(0), Sample.of(16)),
                         (at(0.001), Sample.of(100))])
    assert [p.value for p in got] == [3.0, None, 28.0]
    assert [p.count for p in got] == [2.0, 0.0, 3.0]


@pytest.mark.parametrize("statistic,expected", [
    ("SampleCount", 5.0), ("Sum", 16.0), ("Average", 3.2), ("Minimum", 1.0), ("Maximum", 6.0),
    ("p50", 3.0), ("p90", 6.0), ("p0", 1.0), ("p100", 6.0)])
def test_statistics(statistic, expected):
    samples = [Sample.of(v) for v in (3.0, 1.0, 6.0)] + [Sample(6.0, 2.0, 4.0, 2.0)]  # a statistic set of 2
    value, count = aggregate(statistic, samples)
    assert value == pytest.approx(expected) and count == 5.0


def test_percentiles_read_only_raw_values():
    assert aggregate("p90", [Sample(6.0, 2.0, 4.0, 2.0)]) is None  # a set of different values: no percentile
    assert aggregate("p90", [Sample(8.0, 4.0, 4.0, 2.0)]) == (4.0, 2.0)  # Minimum == Maximum: its values are known
    assert aggregate("Sum", []) is None


def test_low_sample_percentiles_keep_their_state_when_asked():
    r = Rule.of(extended_statistic="p90", period=60, evaluation_periods=1, threshold=1.0,
                comparison_operator="GreaterThanThreshold", evaluate_low_sample_count_percentile="ignore")
    few = [Point(T0, 5.0, 99.0)]  # p90 needs 10 / (1 - 0.9) = 100 samples
    assert evaluate(r, few, OK).state is None
    assert evaluate(r, [Point(T0, 5.0, 100.0)], OK).state == ALARM
    assert evaluate(Rule.of(extended_statistic="p90", period=60, evaluation_periods=1, threshold=1.0,
                            comparison_operator="GreaterThanThreshold"), few, OK).state == ALARM


@pytest.mark.parametrize("definition,why", [
    ({"statistic": "Sum", "extended_statistic": "p90"}, "exactly one"),
    ({"statistic": None}, "exactly one"),
    ({"statistic": "Median"}, "Statistic"),
    ({"statistic": None, "extended_statistic": "tm90"}, "percentiles"),
    ({"statistic": None, "extended_statistic": "p101"}, "percentiles"),
    ({"period": 45}, "Period"),
    ({"period": 0}, "Period"),
    ({"datapoints_to_alarm": 4}, "DatapointsToAlarm"),
    ({"evaluation_periods": 0}, "DatapointsToAlarm"),
    ({"period": 86400, "evaluation_periods": 2, "datapoints_to_alarm": 1}, "one day"),
    ({"comparison_operator": "LessThanLowerOrGreaterThanUpperThreshold"}, "anomaly"),
    ({"threshold": float("nan")}, "finite"),
    ({"threshold": "lots"}, "not a number"),
    ({"treat_missing_data": "sometimes"}, "TreatMissingData"),
])
def test_definitions_it_does_not_evaluate_are_named_rejections(definition, why):
    base = {"statistic": "Sum", "period": 60, "evaluation_periods": 3, "datapoints_to_alarm": 2, "threshold": 1,
            "comparison_operator": "GreaterThanThreshold"}
    with pytest.raises(UnsupportedAlarm, match=why):
        Rule.of(**{**base, **definition})


def test_reasons_are_in_cloudwatchs_words():
    crossed = evaluate(rule(1, 1, comparison="GreaterThanThreshold", threshold=0.0), range_of("- - X"), OK)
    assert crossed.reason == ("Threshold Crossed: 1 out of the last 1 datapoints [5.0 (24/05/25 10:10:00)] was greater "
                              "than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).")
    back = evaluate(rule(1, 1, comparison="GreaterThanThreshold", threshold=0.0), range_of("- X 0"), ALARM)
    assert back.reason == ("Threshold Crossed: 1 out of the last 1 datapoints [0.0 (24/05/25 10:10:00)] was not "
                           "greater than the threshold (0.0) (minimum 1 datapoint for ALARM -> OK transition).")
    quiet = evaluate(rule(1, 1, "notBreaching"), range_of("- - -"), ALARM)
    assert quiet.reason == ("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint "
                            "was treated as [NonBreaching].")
    assert evaluate(rule(3, 3), range_of("- - - - X"), OK).reason == "Insufficient Data: 2 datapoints were unknown."


def test_reason_data_lists_the_evaluated_datapoints_newest_first():
    r = rule(2, 3, statistic="Sum")
    decision = evaluate(r, range_of("0 0 X 0 X"), OK)
    data = reason_data(r, decision, T0 + dt.timedelta(seconds=1500), "Count")
    assert data["recentDatapoints"] == [5.0, 0.0, 5.0] and data["statistic"] == "Sum" and data["period"] == 300
    assert [p["timestamp"] for p in data["evaluatedDatapoints"]] == [
        "2025-05-24T10:20:00.000+0000", "2025-05-24T10:15:00.000+0000", "2025-05-24T10:10:00.000+0000"]
    assert data["startDate"] == "2025-05-24T10:10:00.000+0000" and data["unit"] == "Count"
    json.dumps(data)


# -- properties ----------------------------------------------------------------------------------
rows = st.lists(st.sampled_from("0X-"), min_size=1, max_size=12)
shapes = st.integers(1, 10).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n)))


def points_of(cells: list[str], n: int) -> list[Point]:
    cells = (["-"] * (n + 2) + cells)[-(n + 2):]  # the range is always N + 2 periods
    return range_of(" ".join(cells))


@settings(max_examples=300)
@given(rows, shapes, st.sampled_from(TREATMENTS), st.sampled_from(STATES))
def test_every_decision_is_a_state_or_keeps_it(cells, shape, treat, current):
    m, n = shape
    decision = evaluate(rule(m, n, treat), points_of(cells, n), current)
    assert decision.state in STATES or (decision.state is None and treat == "ignore")
    if treat in ("breaching", "notBreaching"):
        assert decision.state in (OK, ALARM)  # filled in: never unknown


@settings(max_examples=300)
@given(rows, shapes, st.sampled_from(STATES))
def test_with_n_real_datapoints_missing_data_does_not_matter(cells, shape, current):
    m, n = shape
    pts = points_of(cells, n)
    real = [p for p in pts if p.value is not None]
    decisions = {evaluate(rule(m, n, t), pts, current).state for t in TREATMENTS}
    if len(real) >= n:  # "M out of N" over the newest N real datapoints
        newest = real[-n:]
        assert decisions == {ALARM if sum(p.value >= 1.0 for p in newest) >= m else OK}


@settings(max_examples=300)
@given(rows, shapes, st.sampled_from(TREATMENTS), st.sampled_from(STATES), st.data())
def test_one_more_breaching_datapoint_never_ends_an_alarm(cells, shape, treat, current, data):
    m, n = shape
    pts = points_of(cells, n)
    calm = [i for i, p in enumerate(pts) if p.value == 0.0]
    before = evaluate(rule(m, n, treat), pts, current).state
    if not calm or before != ALARM:
        return
    i = data.draw(st.sampled_from(calm))
    worse = pts[:i] + [Point(pts[i].start, 5.0, 1.0)] + pts[i + 1:]
    assert evaluate(rule(m, n, treat), worse, current).state == ALARM


junk = st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=12),
                 st.sampled_from([60, 300, 10, "60", "p90", "p99.9", "Sum", "Maximum"]))


@settings(max_examples=400)
@given(st.fixed_dictionaries({
    "statistic": st.one_of(junk, st.sampled_from(STATISTICS)), "extended_statistic": junk, "period": junk,
    "evaluation_periods": junk, "datapoints_to_alarm": junk, "threshold": junk,
    "comparison_operator": st.one_of(junk, st.sampled_from(list(COMPARISONS))),
    "treat_missing_data": st.one_of(junk, st.sampled_from(TREATMENTS)),
    "evaluate_low_sample_count_percentile": junk}))
def test_any_definition_is_a_rule_or_a_named_rejection(definition):
    try:
        r = Rule.of(**definition)
    except UnsupportedAlarm:
        return
    assert r.period > 0 and 1 <= r.datapoints_to_alarm <= r.evaluation_periods and math.isfinite(r.threshold)
    evaluate(r, [Point(T0)] * r.range_periods, OK)


@settings(max_examples=200)
@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=50), st.floats(0, 100))
def test_a_percentile_lies_within_the_values(values, p):
    value, count = aggregate(f"p{p:.2f}", [Sample.of(v) for v in values])
    assert min(values) <= value <= max(values) and count == len(values)


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=255), st.sampled_from(STATES), st.sampled_from(STATES),
       st.text(max_size=300) | st.none())
def test_notifications_are_json_with_a_short_subject(name, old, new, description):
    view = alarm_notice.AlarmView(
        name=name, arn=f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}", description=description,
        account="123456789012", region="us-east-1", namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions=(("QueueName", "q"),), statistic="Maximum", extended_statistic=None, unit=None, period=300,
        evaluation_periods=1, datapoints_to_alarm=None, comparison="GreaterThanThreshold", threshold=0,
        treat_missing="notBreaching", low_sample=None, alarm_actions=("arn:aws:sns:us-east-1:123456789012:t",))
    msg = json.loads(alarm_notice.encode(alarm_notice.message(view, old, new, "why", T0)))
    assert (msg["AlarmName"], msg["OldStateValue"], msg["NewStateValue"]) == (name, old, new)
    assert msg["Region"] == "US East (N. Virginia)" and msg["StateChangeTime"] == "2025-05-24T10:00:00.000+0000"
    assert msg["Trigger"] == {
        "MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS", "StatisticType": "Statistic",
        "Statistic": "MAXIMUM", "Unit": None, "Dimensions": [{"value": "q", "name": "QueueName"}], "Period": 300,
        "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0,
        "TreatMissingData": "notBreaching", "EvaluateLowSampleCountPercentile": ""}
    subject = alarm_notice.subject(new, name, "us-east-1")
    assert len(subject) <= alarm_notice.MAX_SUBJECT and subject.startswith(f'{new}: "')
