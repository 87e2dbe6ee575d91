"""Per-adapter rate limits: the bounded parsers (any text ends in a limit or a named rejection), the
pure token-bucket limiter on a fake clock (burst, refill, Retry-After, token charge and refund, the
LRU bound) and the wiring of the defaults (serve flags, SageMaker environment, stack settings)."""
import asyncio
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loraplane_core.adapters.live_manifest import LiveAdapter
from loraplane_core.adapters.rate_limits import (
    MAX_RPS,
    MAX_TPM,
    LimitRejected,
    from_metadata,
    parse_rps,
    parse_tpm,
    rps_text,
)
from loraplane_serving import limits
from loraplane_serving.limits import REQUESTS, TOKENS, Limiter, Limits, Refused, Ticket

SHA = "ab" * 32


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


# -- parsers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, rps", [("", 0.0), ("0", 0.0), ("5", 5.0), (" 0.5 ", 0.5), ("100000", 100000.0),
                                       (2, 2.0), (0.25, 0.25), ("0.000001", 1e-6)])
def test_rps_values(text, rps):
    assert parse_rps(text) == rps


@pytest.mark.parametrize("text, reason", [("-1", "NOT_A_NUMBER"), ("1e3", "NOT_A_NUMBER"), ("nan", "NOT_A_NUMBER"),
                                          ("inf", "NOT_A_NUMBER"), ("1_000", "NOT_A_NUMBER"), ("5 rps", "NOT_A_NUMBER"),
                                          ("100001", "OUT_OF_RANGE"), ("1" * 40, "NOT_A_NUMBER"),
                                          (float("nan"), "NOT_A_NUMBER"), (True, "NOT_A_NUMBER"),
                                          (None, "NOT_A_NUMBER"),
                                          (-0.5, "OUT_OF_RANGE"), (1e-9, "OUT_OF_RANGE")])
def test_rps_rejections_are_named(text, reason):
    with pytest.raises(LimitRejected) as e:
        parse_rps(text, "X")
    assert e.value.reason == reason and str(e.value).startswith("X: ")


@pytest.mark.parametrize("text, tpm", [("", 0), ("0", 0), ("6000", 6000), (6000, 6000), (6000.0, 6000),
                                       ("1000000000", MAX_TPM)])
def test_tpm_values(text, tpm):
    assert parse_tpm(text) == tpm


@pytest.mark.parametrize("text", ["1.5", "-3", "1000000001", "0x10", "١٢", "6e3", 6000.5, [], "9" * 11])
def test_tpm_rejections_are_named(text):
    with pytest.raises(LimitRejected) as e:
        parse_tpm(text)
    assert e.value.reason in ("NOT_A_NUMBER", "OUT_OF_RANGE") and len(str(e.value)) < 200


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=60), st.integers(), st.floats(), st.none(), st.booleans()))
def test_any_input_is_a_limit_or_a_named_rejection(value):
    for parse, top in ((parse_rps, MAX_RPS), (parse_tpm, MAX_TPM)):
        try:
            limit = parse(value)
        except LimitRejected as e:
            assert e.reason in ("NOT_A_NUMBER", "OUT_OF_RANGE") and len(str(e)) < 200
        else:
            assert 0 <= limit <= top and math.isfinite(limit)
            assert parse(rps_text(limit) if parse is parse_rps else str(limit)) == limit  # text round-trips


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["requests_per_second", "tokens_per_minute", "other"]),
                       st.one_of(st.text(max_size=40), st.integers(), st.none())))
def test_metadata_and_manifest_never_fail_on_bad_limits(props):
    rps, tpm, problems = from_metadata(props)
    assert (rps is None) == ("requests_per_second" not in props or any("requests_per_second" in p for p in problems))
    # A manifest entry with any limit values still loads: a bad one means "the default".
    entry = LiveAdapter.model_validate({"sha256": SHA, "requests_per_second": props.get("requests_per_second"),
                                        "tokens_per_minute": props.get("tokens_per_minute")})
    assert entry.requests_per_second is None or entry.requests_per_second >= 0


def test_metadata_limits():
    assert from_metadata({"requests_per_second": "2.5", "tokens_per_minute": "6000", "sha256": SHA}) == (2.5, 6000, [])
    assert from_metadata({}) == (None, None, [])
    rps, tpm, problems = from_metadata({"requests_per_second": "fast"})
    assert (rps, tpm) == (None, None) and problems[0].startswith("NOT_A_NUMBER: requests_per_second")


# -- the limiter ----------------------------------------------------------------------------------
def test_burst_then_refill_with_retry_after():
    clock = Clock()
    lim = Limiter(clock=clock)
    one = Limits(rps=1)
    assert isinstance(lim.admit("a", one), Ticket)
    refused = lim.admit("a", one)
    assert refused == Refused(REQUESTS, 1, 1)
    clock.now += 0.4
    assert lim.admit("a", one).retry_after == 1  # 0.6 s left: rounded up, never 0
    clock.now += 0.6
    assert isinstance(lim.admit("a", one), Ticket)
    five = Limits(rps=5)
    assert sum(isinstance(lim.admit("b", five), Ticket) for _ in range(10)) == 5  # a burst of rps
    slow = Limits(rps=0.25)
    assert isinstance(lim.admit("c", slow), Ticket) and lim.admit("c", slow).retry_after == 4


def test_unlimited_adapters_get_no_bucket():
    lim = Limiter(clock=Clock())
    assert all(lim.admit("a", Limits()) is limits.UNLIMITED for _ in range(1000)) and not lim.buckets


def test_tokens_charged_up_front_and_corrected_by_usage():
    clock = Clock()
    lim = Limiter(clock=clock)
    tpm = Limits(tpm=600)  # 10 tokens a second
    first = lim.admit("a", tpm, 500)
    assert first.charged == 500 and isinstance(lim.admit("a", tpm, 200), Refused)
    first.settle(20)  # generated 20 of its 500: 480 back
    second = lim.admit("a", tpm, 200)
    assert isinstance(second, Ticket)
    refused = lim.admit("a", tpm, 600)
    assert refused.limit == TOKENS and refused.retry_after == math.ceil((600 - (600 - 20 - 200)) / 10)
    second.settle(None)  # unknown usage (a stream): the charge stands
    assert lim.buckets["a"][2].level == pytest.approx(380)


def test_unbounded_and_oversized_charges_are_capped_at_the_bucket():
    clock = Clock()
    lim = Limiter(clock=clock)
    ticket = lim.admit("a", Limits(tpm=100), math.inf)
    assert ticket.charged == 100  # else it could never be admitted
    ticket.settle(150)  # used more than charged: the bucket goes into debt
    assert lim.buckets["a"][2].level == pytest.approx(-50)
    assert lim.admit("a", Limits(tpm=100), 1).retry_after == math.ceil(51 / (100 / 60))
    assert isinstance(lim.admit("a", Limits(tpm=100), 0), Ticket)  # /tokenize-like requests pass


def test_errors_refund_and_usage_is_read_from_answers():
    assert limits.used_tokens(400, b'{"error": {}}') == 0
    assert limits.used_tokens(200, json.dumps({"usage": {"completion_tokens": 7}}).encode()) == 7
    assert limits.used_tokens(200, json.dumps([{"details": {"generated_tokens": 3}}]).encode()) == 3
    assert limits.used_tokens(200, b"data: {}") is None and limits.used_tokens(200, None) is None
    assert limits.used_tokens(200, b'{"usage": {"completion_tokens": true}}') is None


def test_requested_tokens():
    req = limits.requested_tokens
    assert req("/v1/completions", {"max_tokens": 16}, 2048) == 16
    assert req("/v1/chat/completions", {"max_completion_tokens": 9, "max_tokens": 50, "n": 2}, 2048) == 18
    assert req("/v1/chat/completions", {}, 2048) == 2048 and req("/invocations", {"max_tokens": 10**9}, 2048) == 2048
    assert req("/v1/completions", {"max_tokens": "16"}, None) == math.inf
    assert req("/tokenize", {"max_tokens": 16}, 2048) == 0


def test_buckets_are_bounded_least_recently_used_first():
    lim = Limiter(clock=Clock(), max_buckets=3)
    for name in ("a", "b", "c", "a", "d"):
        lim.admit(name, Limits(rps=1))
    assert list(lim.buckets) == ["c", "a", "d"]


def test_changed_limits_keep_the_level():
    clock = Clock()
    lim = Limiter(clock=clock)
    assert isinstance(lim.admit("a", Limits(rps=2)), Ticket) and isinstance(lim.admit("a", Limits(rps=2)), Ticket)
    assert isinstance(lim.admit("a", Limits(rps=3)), Refused)  # a new limit is no fresh burst
    clock.now += 1
    assert sum(isinstance(lim.admit("a", Limits(rps=3)), Ticket) for _ in range(5)) == 3  # refilled at the new rate


@settings(max_examples=300, deadline=None)
@given(rps=st.sampled_from([0.5, 1, 2, 3.5, 10]),
       steps=st.lists(st.floats(min_value=0, max_value=2.5, allow_nan=False), min_size=1, max_size=80))
def test_never_more_than_the_limit_in_any_window(rps, steps):
    """In any window of T seconds at most max(1, rps) + rps x T requests get through; and every
    refusal's Retry-After is honest: waiting that long (with no other request) is admitted."""
    clock = Clock()
    lim = Limiter(clock=clock)
    admitted = []
    for dt in steps:
        clock.now += dt
        answer = lim.admit("a", Limits(rps=rps))
        if isinstance(answer, Ticket):
            admitted.append(clock.now)
        else:
            assert answer.retry_after >= 1
            probe = Limiter(clock=lambda: clock.now + answer.retry_after)
            probe.buckets = {"a": (lim.buckets["a"][0], _copy(lim.buckets["a"][1]), None)}
            assert isinstance(probe.admit("a", Limits(rps=rps)), Ticket)
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            window = admitted[j] - start
            assert j - i + 1 <= max(1, rps) + rps * window + 1e-6


def _copy(bucket):
    return limits.Bucket(bucket.capacity, bucket.per_second, bucket.updated, bucket.level)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(min_value=0, max_value=30, allow_nan=False), st.integers(1, 700),
                          st.integers(0, 700)), min_size=1, max_size=60))
def test_tokens_never_exceed_the_limit_in_any_window(requests):
    """Tokens actually used in any window of T seconds stay within tpm + tpm / 60 x T."""
    clock, tpm = Clock(), 600
    lim = Limiter(clock=clock)
    used = []
    for dt, asked, generated in requests:
        clock.now += dt
        ticket = lim.admit("a", Limits(tpm=tpm), asked)
        if isinstance(ticket, Ticket):
            actual = min(generated, ticket.charged)  # an engine never generates beyond max_tokens
            ticket.settle(actual)
            used.append((clock.now, actual))
    for i, (start, _) in enumerate(used):
        total = 0
        for at, actual in used[i:]:
            total += actual
            assert total <= tpm + tpm / 60 * (at - start) + 1e-6


def test_tap_settles_from_the_answer():
    lim = Limiter(clock=Clock())
    ticket = lim.admit("a", Limits(tpm=600), 100)
    sent = []

    async def send(message):
        sent.append(message)

    async def answer():
        tapped = ticket.tap(send)
        await tapped({"type": "http.response.start", "status": 200,
                      "headers": [(b"content-type", b"application/json")]})
        await tapped({"type": "http.response.body", "body": b'{"usage": {"completion_', "more_body": True})
        await tapped({"type": "http.response.body", "body": b'tokens": 4}}'})

    asyncio.run(answer())
    assert len(sent) == 3 and ticket.settled and lim.buckets["a"][2].level == pytest.approx(596)
    assert limits.UNLIMITED.tap(send) is send


# -- defaults: serve flags, the SageMaker environment, the stack ------------------------------------
def test_defaults_from_flags_and_environment(tiny_base_dir):
    from loraplane_serving.launch import ServeOptions, command, sagemaker_options

    _, env = command(ServeOptions(model_dir=tiny_base_dir, adapter_rps=0.5, adapter_tpm=6000))
    assert env["LORAPLANE_ADAPTER_RPS"] == "0.5" and env["LORAPLANE_ADAPTER_TPM"] == "6000"
    assert limits.from_env(env) == Limits(0.5, 6000)
    assert command(ServeOptions(model_dir=tiny_base_dir))[1]["LORAPLANE_ADAPTER_RPS"] == "0"  # always set: off
    o = sagemaker_options({"SM_MODEL_DIR": tiny_base_dir, "LORAPLANE_ADAPTER_RPS": "2", "LORAPLANE_ADAPTER_TPM": ""})
    assert (o.adapter_rps, o.adapter_tpm) == (2.0, 0)
    with pytest.raises(LimitRejected, match="LORAPLANE_ADAPTER_TPM"):
        sagemaker_options({"SM_MODEL_DIR": tiny_base_dir, "LORAPLANE_ADAPTER_TPM": "lots"})
    assert limits.model_max_tokens({"LORAPLANE_MAX_MODEL_LEN": "512"}, tiny_base_dir) == 512
    assert limits.model_max_tokens({}, "/nonexistent") is None


def test_serve_flags_reject_bad_limits(capsys):
    import argparse

    from loraplane.commands import serve

    parser = argparse.ArgumentParser()
    serve.add_parser(parser.add_subparsers())
    args = parser.parse_args(["serve", "--adapter-rps", "0.5", "--adapter-tpm", "6000"])
    assert (args.adapter_rps, args.adapter_tpm) == (0.5, 6000)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--adapter-rps", "fast"])
    assert "'fast' is not a decimal number" in capsys.readouterr().err


def test_stack_settings_reach_the_container_environment():
    from loraplane_core.deployment.base_endpoint import container_environment
    from loraplane_core.settings import MissingSettings, Settings

    base = {"PROJECT_NAME": "p", "PROJECT_ID": "i", "ADAPTER_BUCKET": "b", "CATALOG_TABLE": "t",
            "IDEMPOTENCY_TABLE": "t", "TOPIC_ARN": "arn", "ADAPTER_MODEL_PACKAGE_GROUP": "g",
            "BASE_MODEL_PACKAGE_GROUP": "g", "SERVING_IMAGE_URI": "img", "ENDPOINT_NAME": "e",
            "ENDPOINT_EXECUTION_ROLE_ARN": "arn"}
    env = container_environment(Settings.from_env({**base, "ADAPTER_RPS": "0.5", "ADAPTER_TPM": "6000"}), "tiny")
    assert env["LORAPLANE_ADAPTER_RPS"] == "0.5" and env["LORAPLANE_ADAPTER_TPM"] == "6000"
    assert container_environment(Settings.from_env(base), "tiny")["LORAPLANE_ADAPTER_RPS"] == "0"
    with pytest.raises(MissingSettings, match="ADAPTER_RPS"):
        Settings.from_env({**base, "ADAPTER_RPS": "-1"})


def test_package_limits_reach_the_manifest_entry():
    from loraplane_core.deployment.decisions import VersionView

    view = VersionView(package_arn="arn", version=1, sha256=SHA, artifact_uri="s3://b/k", base_model="tiny",
                       state="live", registry_status="Approved", requests_per_second=2.0, tokens_per_minute=None)
    entry = view.target().manifest_entry()
    assert entry.requests_per_second == 2.0 and entry.tokens_per_minute is None
    assert "tokens_per_minute" not in entry.model_dump(exclude_none=True)


def test_registry_metadata_becomes_the_version_limits(caplog):
    """The deployment reads a version's limits from its model package metadata; a malformed one is
    logged and leaves the stack's default (the version still serves)."""
    from types import SimpleNamespace

    from loraplane_core.deployment import snapshots

    metadata = {"adapter_name": "bot", "requests_per_second": "2", "tokens_per_minute": "many"}
    sagemaker = SimpleNamespace(describe_model_package=lambda **_: {
        "ModelApprovalStatus": "Approved", "CustomerMetadataProperties": metadata})
    catalog = SimpleNamespace(get_item=lambda **_: {})
    item = {"package_arn": "arn:pkg/1", "package_version": 1, "sha256": SHA, "artifact_uri": "s3://b/k",
            "base_model": "tiny", "state": "live"}
    view = snapshots.version_view(SimpleNamespace(sagemaker=sagemaker, catalog=catalog), item)
    assert (view.requests_per_second, view.tokens_per_minute) == (2.0, None)
    assert "NOT_A_NUMBER: tokens_per_minute" in caplog.text
    assert view.target().manifest_entry().model_dump(exclude_none=True)["requests_per_second"] == 2.0
