"""The emulator's stand-in for CloudWatch Logs' EMF extraction (emulator/emf.py): documents become
metric data as the specification says, anything else stays a log line, and log files are followed
line by line with a bounded line length."""
import datetime
import json

from hypothesis import given
from hypothesis import strategies as st

from loraplane.emulator import emf

NOW = datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.timezone.utc)
MS = int(NOW.timestamp() * 1000)


def doc(**overrides) -> dict:
    base = {"_aws": {"Timestamp": MS, "CloudWatchMetrics": [
        {"Namespace": "NS", "Dimensions": [["A"], ["A", "B"]], "Metrics": [{"Name": "M", "Unit": "Count"}]}]},
        "A": "a", "B": "b", "M": [1.0, 2.0]}
    return {**base, **overrides}


def test_each_dimension_set_is_a_metric_with_the_documents_timestamp():
    data = emf.metric_data(doc(), NOW)
    assert [(ns, d["MetricName"], d["Dimensions"], d["Values"]) for ns, d in data] == [
        ("NS", "M", [{"Name": "A", "Value": "a"}], [1.0, 2.0]),
        ("NS", "M", [{"Name": "A", "Value": "a"}, {"Name": "B", "Value": "b"}], [1.0, 2.0])]
    assert all(d["Timestamp"] == NOW and d["Unit"] == "Count" for _, d in data)


def test_documents_breaking_the_rules_yield_nothing():
    bad = [
        {"M": 1},  # no _aws
        doc(_aws={"CloudWatchMetrics": []}),  # no Timestamp
        doc(A=3),  # a dimension that is not a string
        doc(M="12"),  # a value that is not a number
        doc(M=[1.0] * 101),  # more than 100 values
        doc(M=float("nan")),
        doc(_aws={"Timestamp": MS - 15 * 86400_000, "CloudWatchMetrics": []}),  # older than two weeks
        doc(_aws={"Timestamp": MS, "CloudWatchMetrics": [{"Dimensions": [], "Metrics": []}]}),  # no Namespace
        doc(_aws={"Timestamp": MS, "CloudWatchMetrics": [{"Namespace": "NS", "Dimensions": [["Z"]],
                                                          "Metrics": [{"Name": "M"}]}]}),  # Z is missing
    ]
    for d in bad:
        assert emf.parse_line(json.dumps(d).encode(), NOW) == [], d


@given(st.binary(max_size=400))
def test_any_line_is_metrics_or_nothing(line):
    assert isinstance(emf.parse_line(line, NOW), list)


@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
                        ["_aws", "Timestamp", "CloudWatchMetrics", "Namespace", "Dimensions", "Metrics", "Name", "A"]),
                        inner, max_size=5), max_leaves=30))
def test_any_json_is_metrics_or_nothing(value):
    data = emf.parse_line(json.dumps({"_aws": value} if not isinstance(value, dict) else value).encode(), NOW)
    assert all(isinstance(ns, str) and d["Values"] for ns, d in data)


def test_log_files_are_followed_line_by_line_and_long_lines_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(emf, "MAX_LINE", 2000)
    published = []
    metrics = emf.LogMetrics(lambda region, ns, data: published.append((region, ns, data)))
    log = tmp_path / "container.log"
    log.write_bytes(b"INFO starting\n")
    metrics.tails[log] = emf.Tail("eu-west-1")  # what watch() records, without its thread
    line = json.dumps(doc(_aws={**doc()["_aws"], "Timestamp": int(datetime.datetime.now().timestamp() * 1000)}))
    with open(log, "ab") as f:
        f.write(line[:20].encode())  # half a line: not read yet
    metrics.read(log)
    assert published == []
    with open(log, "ab") as f:
        f.write(line[20:].encode() + b"\n" + b"{" + b"x" * 5000)  # then a line too long to read
    metrics.read(log)
    assert [(r, ns, len(d)) for r, ns, d in published] == [("eu-west-1", "NS", 2)]
    with open(log, "ab") as f:
        f.write(b"y" * 10 + b'"_aws"}\n' + line.encode() + b"\n")  # the long line's end, then a document
    metrics.read(log)
    metrics.forget(log)
    assert len(published) == 2 and log not in metrics.tails
