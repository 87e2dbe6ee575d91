"""The serving container's per-adapter CloudWatch metrics (usage_metrics.py): EMF documents as the
specification requires them, one per adapter and interval with summed counters, bounded in number and
in dimension values whatever names and counts come in, and token usage read from OpenAI answers
(JSON and server-sent events). The emulator's EMF reader (emulator/emf.py) reads them back."""
import asyncio
import datetime
import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from loraplane.emulator.emf import parse_line
from loraplane_serving import metrics, names
from loraplane_serving import usage_metrics as um

ENDPOINT = "proj-p-1-endpoint"
NOW = float(int(time.time()))  # CloudWatch (and Powertools) want timestamps within two weeks


def publisher(**kwargs) -> tuple[um.Publisher, list[str]]:
    lines: list[str] = []
    return um.Publisher(ENDPOINT, write=lines.append, clock=lambda: NOW, **kwargs), lines


def check_against_the_spec(doc: dict) -> None:
    """The specification's required members and limits (CloudWatch_Embedded_Metric_Format_Specification)."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] == int(NOW * 1000)
    [directive] = aws["CloudWatchMetrics"]
    assert directive["Namespace"] == um.NAMESPACE
    for dimension_set in directive["Dimensions"]:
        assert len(dimension_set) <= 30
        assert all(isinstance(doc[key], str) and doc[key] for key in dimension_set)
    assert 1 <= len(directive["Metrics"]) <= 100
    for metric in directive["Metrics"]:
        assert metric["Name"] in um.METRICS and metric["Unit"] == um.METRICS[metric["Name"]]
        values = doc[metric["Name"]]
        assert isinstance(values, list) and 1 <= len(values) <= 100
        assert all(isinstance(v, float) and v >= 0 for v in values)
    assert set(doc) <= {"_aws", *(k for s in directive["Dimensions"] for k in s), *(m["Name"] for m in directive["Metrics"])}


def test_one_document_per_adapter_with_the_interval_sums_and_tiers():
    p, lines = publisher()
    for _ in range(3):
        p.add("use-a", "PromptTokens", 5)
        p.add("use-a", "GeneratedTokens", 8)
    p.add(um.BASE, "PromptTokens", 2)
    p.observe_load("use-a", 1.25)
    docs = p.flush({"disk": 3, "engine": 2})
    assert len(lines) == len(docs) == 4 and all(json.loads(line) == doc for line, doc in zip(lines, docs))
    for doc in docs:
        check_against_the_spec(doc)
    by = {d.get("Adapter") or d["Tier"]: d for d in docs}
    assert by["use-a"]["PromptTokens"] == [15.0] and by["use-a"]["GeneratedTokens"] == [24.0]
    assert by["use-a"]["LoadSeconds"] == [1.25] and by["use-a"]["EndpointName"] == ENDPOINT
    assert by[um.BASE]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [list(um.ADAPTER_DIMENSIONS)]
    assert by["disk"]["ResidentAdapters"] == [3.0]
    assert by["engine"]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [list(um.TIER_DIMENSIONS)]
    assert [d for d in p.flush() if "Adapter" in d] == []  # the next interval starts empty


def test_prometheus_counters_are_published_as_their_growth_per_interval():
    p, _ = publisher()
    label = metrics.adapter_label("grow-a")
    metrics.REQUESTS.labels(label).inc(4)
    metrics.HITS.labels(label).inc(3)
    metrics.ERRORS.labels(label, "SOME_REASON").inc()
    first = next(d for d in p.flush() if d.get("Adapter") == "grow-a")
    assert (first["Requests"], first["CacheHits"], first["Errors"]) == ([4.0], [3.0], [1.0])
    metrics.REQUESTS.labels(label).inc()
    second = next(d for d in p.flush() if d.get("Adapter") == "grow-a")
    assert second["Requests"] == [1.0] and "CacheHits" not in second


def test_an_inference_components_name_counts_for_its_adapter():
    from loraplane_core.endpoint_names import adapter_component

    p, _ = publisher()
    p.add(adapter_component(ENDPOINT, "bot"), "PromptTokens", 3)
    p.add(adapter_component("another-endpoint", "bot"), "PromptTokens", 1)  # not this endpoint's: as it is
    found = {d["Adapter"] for d in p.flush()}
    assert found == {"bot", adapter_component("another-endpoint", "bot")}


def test_without_an_endpoint_name_the_dimension_set_is_adapter_only():
    p = um.Publisher(None, write=lambda line: None, clock=lambda: NOW)
    p.add("solo", "Requests", 1)
    [doc] = p.flush()
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Adapter"]] and "EndpointName" not in doc


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=40) | st.from_regex(names.ADAPTER_NAME, fullmatch=True),
                          st.integers(min_value=0, max_value=10**12)), max_size=60),
       st.integers(min_value=1, max_value=8))
def test_any_names_and_counts_stay_bounded_and_add_up(records, cap):
    p, lines = publisher(max_adapters=cap)
    for name, tokens in records:
        p.add(name, "PromptTokens", tokens)
    docs = [d for d in p.flush() if "Adapter" in d]
    assert len(docs) <= cap + 1  # the cap, and `_other`
    for doc in docs:
        check_against_the_spec(doc)
        assert doc["Adapter"] in um.RESERVED or names.is_component_name(doc["Adapter"])
    assert sum(d.get("PromptTokens", [0])[0] for d in docs) == sum(t for _, t in records)
    assert all(json.loads(line) for line in lines)


@given(st.text(max_size=80))
def test_the_adapter_dimension_is_a_found_name_or_a_reserved_one(name):
    value = um.dimension_value(name, ENDPOINT)
    assert value in um.RESERVED or (names.is_component_name(value) and value in name)


def test_the_emulators_emf_reader_gets_back_what_was_published():
    p, lines = publisher()
    p.add("round-trip", "GeneratedTokens", 7)
    p.flush({"disk": 1})
    now = datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc)
    points = [datum for line in lines for _, datum in parse_line(line.encode(), now)]
    tokens = next(d for d in points if d["MetricName"] == "GeneratedTokens")
    assert tokens["Values"] == [7.0] and tokens["Timestamp"] == now
    assert {"Name": "Adapter", "Value": "round-trip"} in tokens["Dimensions"]
    assert {d["MetricName"] for d in points} == {"GeneratedTokens", "ResidentAdapters"}


# -- token usage from answers ---------------------------------------------------------------------
def feed(reader: um.UsageReader, status: int, content_type: bytes, *bodies: bytes) -> dict | None:
    reader.feed({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
    for i, body in enumerate(bodies):
        reader.feed({"type": "http.response.body", "body": body, "more_body": i < len(bodies) - 1})
    return reader.usage


def test_usage_from_a_json_answer_in_pieces():
    answer = json.dumps({"choices": [{"text": "hi"}], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}).encode()
    assert feed(um.UsageReader(), 200, b"application/json", answer[:10], answer[10:]) == {
        "prompt_tokens": 5, "completion_tokens": 2}
    assert feed(um.UsageReader(), 400, b"application/json", answer) is None  # errors generated nothing


def test_usage_from_a_stream_only_when_it_carries_one():
    chunks = [b'data: {"choices":[{"text":"a"}],"usage":null}\n\n', b'data: {"choices":[],"usa',
              b'ge":{"prompt_tokens":4,"completion_tokens":3}}\n\n', b"data: [DONE]\n\n"]
    assert feed(um.UsageReader(), 200, b"text/event-stream; charset=utf-8", *chunks) == {
        "prompt_tokens": 4, "completion_tokens": 3}
    assert feed(um.UsageReader(), 200, b"text/event-stream", chunks[0], chunks[3]) is None


def test_an_answer_too_large_to_read_counts_no_tokens(monkeypatch):
    monkeypatch.setattr(um, "MAX_JSON", 16)
    answer = json.dumps({"usage": {"prompt_tokens": 5, "completion_tokens": 2}, "pad": "x" * 64}).encode()
    assert feed(um.UsageReader(), 200, b"application/json", answer) is None


@given(st.binary(max_size=300), st.sampled_from([b"application/json", b"text/event-stream"]))
def test_any_answer_bytes_never_fail_the_reader(body, content_type):
    usage = feed(um.UsageReader(), 200, content_type, body[:7], body[7:])
    assert usage is None or isinstance(usage, dict)


def test_metered_answers_are_counted_for_their_adapter(monkeypatch):
    p, _ = publisher()
    monkeypatch.setattr(um, "_publisher", p)
    monkeypatch.setattr(um, "_configured", True)
    answer = json.dumps({"usage": {"prompt_tokens": 9, "completion_tokens": 4}}).encode()

    async def vllm(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})

    async def call(scope):
        sent = []

        async def send(message):
            sent.append(message)
        await um.Metered(vllm)(scope, None, send)
        return sent

    asyncio.run(call({"type": "http", um.SCOPE_KEY: um.BASE}))
    asyncio.run(call({"type": "http"}))  # not marked by the middleware: not counted
    [doc] = p.flush()
    assert doc["Adapter"] == um.BASE and doc["PromptTokens"] == [9.0] and doc["GeneratedTokens"] == [4.0]
    assert doc["Requests"] == [1.0]


def test_flush_interval_from_the_environment():
    assert um.flush_seconds({"LORAPLANE_METRICS_FLUSH_SECONDS": "2.5"}) == 2.5
    for off in ("", "0", "-3", "nan", "inf", "soon"):
        assert um.flush_seconds({"LORAPLANE_METRICS_FLUSH_SECONDS": off}) == 0.0
    assert um.flush_seconds({}) == 0.0


def test_sagemaker_serving_turns_them_on_and_local_serve_off():
    from loraplane_serving.launch import ServeOptions, sagemaker_options

    assert sagemaker_options({}).metrics_flush_seconds == "60"
    assert sagemaker_options({"LORAPLANE_METRICS_FLUSH_SECONDS": "5"}).metrics_flush_seconds == "5"
    assert ServeOptions(model_dir="m").metrics_flush_seconds == "0"
