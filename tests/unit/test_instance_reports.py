"""On-demand mode's prefetch reports: the container says which live manifest it has taken up and
what it could not fetch; the control plane marks a version live once every serving instance has it.
The decision is pure (`readiness`); the writer and the reader run against in-process moto S3."""
import asyncio
import datetime
import json
import shutil

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from loraplane_core.adapters.instance_reports import (
    FRESH_SECONDS,
    HEARTBEAT_SECONDS,
    MAX_FAILED,
    MAX_REPORT_BYTES,
    REPORTS_PREFIX,
    InstanceReport,
    WrittenReport,
    parse_report,
    readiness,
    report_key,
)
from loraplane_core.adapters.live_manifest import MANIFEST_KEY
from loraplane_core.deployment.serving_modes import OnDemand
from loraplane_serving.instance_report import InstanceReporter, instance_id, report_body
from loraplane_serving.manifest import LiveManifest
from loraplane_serving.prefetch import MAX_ATTEMPTS

from .test_manifest import Clock
from .test_serving_fetch import Host, approvals  # noqa: F401 - the fixture

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
SHA, OLD = "a" * 64, "b" * 64


def seen(instance: str, etag: str | None, age: float = 1, failed: dict | None = None) -> WrittenReport:
    report = InstanceReport(format=1, instance=instance, manifest_etag=etag,
                            failed={n: {"sha256": s, "reason": r} for n, (s, r) in (failed or {}).items()})
    return WrittenReport(report, NOW - datetime.timedelta(seconds=age))


def ready(reports, instances=2, etag='"e2"', settled=False):
    return readiness("helper", SHA, etag, reports, instances, NOW, settled)


# -- the decision -----------------------------------------------------------------------------------
def test_live_once_every_instance_has_taken_up_the_manifest():
    assert ready([seen("i1", '"e2"'), seen("i2", '"e1"')]) == ("Publishing", "1 of 2 instances have fetched it")
    assert ready([seen("i1", '"e2"'), seen("i2", '"e2"')]) == ("InService", None)


def test_a_stopped_instance_neither_blocks_nor_counts():
    # its last report stays fresh a while: enough instances have it
    assert ready([seen("i1", '"e2"'), seen("i2", '"e2"'), seen("gone", '"e1"')])[0] == "InService"
    assert ready([seen("i1", '"e2"'), seen("i2", '"e1"')], instances=None)[0] == "Publishing"


def test_an_instance_that_does_not_report_is_covered_by_the_timer():
    """Starting, or its writes refused: every reporting instance must have it, and the timer stands for
    the others (they have re-read the manifest by then)."""
    reports = [seen("i1", '"e2"'), seen("gone", '"e1"', age=FRESH_SECONDS + 1)]
    assert ready(reports, instances=2) == ("Publishing", "1 of 2 instances have fetched it")
    assert ready(reports, instances=2, settled=True) == (
        "InService", "1 of 2 instances have fetched it; the others have re-read the manifest")
    assert ready([seen("i1", '"e2"'), seen("i2", '"e1"')], instances=3, settled=True)[0] == "Publishing"


def test_a_failed_fetch_of_this_version_fails_the_change_with_the_containers_reason():
    failed = {"helper": (SHA, "rank 64 above the limit 16")}
    status, why = ready([seen("i1", '"e2"', failed=failed), seen("i2", '"e2"')])
    assert status == "Failed" and "i1" in why and "rank 64" in why
    # of another version, or of an older manifest: not this change's failure
    assert ready([seen("i1", '"e2"', failed={"helper": (OLD, "x")}), seen("i2", '"e2"')])[0] == "InService"
    assert ready([seen("i1", '"e1"', failed=failed), seen("i2", '"e2"')])[0] == "Publishing"


def test_without_reports_the_timer_decides_and_with_no_instance_nothing_waits():
    assert ready([], settled=False)[0] == "Publishing" and ready([], settled=True)[0] == "InService"
    assert ready([seen("old", '"e2"', age=FRESH_SECONDS + 1)], settled=True)[0] == "InService"
    assert ready([seen("i1", '"e1"')], instances=0)[0] == "InService"  # scaled to zero
    assert ready([seen("i1", None)], etag=None)[0] == "Publishing"  # no manifest: nothing is taken up


# -- untrusted input: parse_report ----------------------------------------------------------------------
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)


near_reports = st.fixed_dictionaries(
    {"format": st.sampled_from([1, 2, "1", None]), "instance": st.text(max_size=140),
     "manifest_etag": st.none() | st.text(max_size=300), "failed": st.dictionaries(st.text(max_size=40), st.one_of(
         json_values, st.fixed_dictionaries({"sha256": st.sampled_from([SHA, "A" * 64, "x"]),
                                             "reason": st.text(max_size=400)})), max_size=5)})


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=2000), json_values.map(lambda v: json.dumps(v).encode()),
                 near_reports.map(lambda v: json.dumps(v).encode())))
def test_anything_a_container_writes_is_a_report_or_none(raw):
    parsed = parse_report(raw)
    assert parsed is None or isinstance(parsed, InstanceReport)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z0-9-]{1,30}", fullmatch=True),
                       st.tuples(st.sampled_from([SHA, OLD]), st.text(max_size=400)), max_size=MAX_FAILED + 20),
       st.none() | st.text(min_size=1, max_size=60))
def test_what_the_container_writes_parses_back_within_the_bounds(failed, etag):
    body = report_body("ip-10-0-0-1-7-0a1b2c3d", etag, failed)
    report = parse_report(body)
    assert report is not None and len(body) <= MAX_REPORT_BYTES
    assert report.manifest_etag == etag and len(report.failed) == min(len(failed), MAX_FAILED)
    assert all(report.failed[n].sha256 == failed[n][0] for n in report.failed)


def test_a_report_of_long_non_ascii_reasons_keeps_the_latest_failures_within_the_bound():
    failed = {f"a{i:03d}": (SHA, "é\u2028" * 300) for i in range(MAX_FAILED)}  # 6 bytes a character in JSON
    body = report_body("i1", '"e"', failed)
    report = parse_report(body)
    assert len(body) <= MAX_REPORT_BYTES and report is not None and 0 < len(report.failed) < MAX_FAILED
    assert f"a{MAX_FAILED - 1:03d}" in report.failed and "a000" not in report.failed  # the oldest went
    assert "\u2028" not in report.failed[f"a{MAX_FAILED - 1:03d}"].reason  # one line when read


def test_oversized_or_deeply_nested_reports_are_refused():
    big = {"format": 1, "instance": "i", "failed": {}, "pad": "x" * MAX_REPORT_BYTES}
    assert parse_report(json.dumps(big).encode()) is None
    assert parse_report(b"[" * 50_000) is None
    assert parse_report(json.dumps({"format": 2, "instance": "i"}).encode()) is None
    assert parse_report(json.dumps({"format": 1, "instance": "../x"}).encode()) is None


def test_instance_ids_and_keys():
    ident = instance_id()
    assert InstanceReport(format=1, instance=ident).instance == ident and ident != instance_id()
    assert report_key(ident, MANIFEST_KEY) == report_key(ident) == f"{REPORTS_PREFIX}{ident}.json"
    assert report_key(ident, "team/manifest.json") == f"team/_instances/{ident}.json"
    assert report_key(ident, "manifest.json") == f"_instances/{ident}.json"
    assert InstanceReporter(f"s3://b/{MANIFEST_KEY}", instance=ident).key == report_key(ident)


# -- the writer and the reader -------------------------------------------------------------------------
@pytest.fixture
def bucket(in_process_aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    name = f"reports-{in_process_aws}"
    s3.create_bucket(Bucket=name)
    yield s3, name
    for o in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=o["Key"])
    s3.delete_bucket(Bucket=name)


def test_a_container_writes_its_report_when_it_changes_and_on_the_heartbeat(bucket):
    s3, name = bucket
    clock = Clock()
    reporter = InstanceReporter(f"s3://{name}/{MANIFEST_KEY}", client=s3, clock=clock, instance="i1")
    assert asyncio.run(reporter.report('"e1"', {}))
    assert not asyncio.run(reporter.report('"e1"', {}))  # unchanged
    assert asyncio.run(reporter.report('"e2"', {"helper": (SHA, "boom")}))
    clock.now += HEARTBEAT_SECONDS
    assert asyncio.run(reporter.report('"e2"', {"helper": (SHA, "boom")}))  # the heartbeat
    report = parse_report(s3.get_object(Bucket=name, Key=report_key("i1"))["Body"].read())
    assert report.manifest_etag == '"e2"' and report.failed["helper"].reason == "boom"
    assert InstanceReporter.for_manifest("/opt/ml/live/manifest.json") is None  # a local manifest: no report


def test_a_refused_write_is_not_fatal(bucket, caplog):
    s3, name = bucket
    reporter = InstanceReporter(f"s3://{name}-missing/{MANIFEST_KEY}", client=s3, instance="i1")
    assert not asyncio.run(reporter.report('"e1"', {})) and not asyncio.run(reporter.report('"e1"', {}))
    assert sum("not written" in r.message for r in caplog.records) == 1  # logged once, not every pass


class Endpoint:
    def __init__(self, counts):
        self.counts = counts

    def describe_endpoint(self, EndpointName):
        return {"EndpointStatus": "InService",
                "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": c} for c in self.counts]}


def publish(s3, name: str, **adapters) -> str:
    # written an hour ahead: the timer never settles during the test, however slow the machine
    ahead = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    body = json.dumps({"format": 1, "updated_at": ahead.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "adapters": {n: {"sha256": sha} for n, sha in adapters.items()}})
    return s3.put_object(Bucket=name, Key=MANIFEST_KEY, Body=body.encode())["ETag"]


def test_the_control_plane_reads_the_reports_beside_the_manifest(bucket):
    s3, name = bucket
    mode = OnDemand(Endpoint([2]), s3, "ep", name)
    etag = publish(s3, name, helper=SHA)
    assert mode.status("other") == ("Missing", None)
    first = InstanceReporter(f"s3://{name}/{MANIFEST_KEY}", client=s3, instance="i1")
    asyncio.run(first.report(etag, {}))
    s3.put_object(Bucket=name, Key=report_key("junk"), Body=b"not json")  # ignored, not fatal
    assert mode.status("helper") == ("Publishing", "1 of 2 instances have fetched it")
    second = InstanceReporter(f"s3://{name}/{MANIFEST_KEY}", client=s3, instance="i2")
    asyncio.run(second.report(etag, {}))
    assert mode.status("helper") == ("InService", None)
    asyncio.run(second.report(etag, {"helper": (SHA, "S3 AccessDenied")}))
    assert mode.status("helper")[0] == "Failed"
    assert OnDemand(Endpoint([0]), s3, "ep", name).status("helper")[0] == "InService"  # scaled to zero


def test_a_batch_is_judged_from_one_read_of_the_manifest_and_the_reports(bucket):
    """Lock batching: the versions of one manifest, each judged as status() would, in one round."""
    s3, name = bucket
    mode = OnDemand(Endpoint([1]), s3, "ep", name)
    etag = publish(s3, name, helper=SHA, other="1" * 64)
    asyncio.run(InstanceReporter(f"s3://{name}/{MANIFEST_KEY}", client=s3, instance="i1").report(
        etag, {"other": ("1" * 64, "disk full")}))
    found = mode.statuses({"helper": None, "other": None, "gone": None})
    assert found == {a: mode.status(a) for a in ("helper", "other", "gone")}
    assert [found[a][0] for a in ("helper", "other", "gone")] == ["InService", "Failed", "Missing"]


class Reporter:
    def __init__(self):
        self.reports = []

    async def report(self, etag, failed):
        self.reports.append((etag, dict(failed)))


def test_the_prefetcher_reports_the_manifest_it_took_up_and_what_failed(approvals, adapter_cache):  # noqa: F811
    gate, source, publish_local, root = approvals
    shutil.copytree(adapter_cache(seed=63, rank=32), root / "bad")  # rank above the limit: reported at once
    publish_local(a=root / "a", bad=root / "bad")
    gate.manifest.tagged = lambda: (gate.manifest.peek(), '"e1"')  # a local manifest has no ETag
    prefetcher, reporter = Host().prefetcher(gate), Reporter()
    prefetcher.reporter = reporter
    reports = reporter.reports
    assert asyncio.run(prefetcher.run_once()) == {"a": "fetched", "bad": "failed"}
    [(etag, failed)] = reports
    bad_sha = gate.manifest.peek().adapters["bad"].sha256
    assert etag == '"e1"' and list(failed) == ["bad"] and failed["bad"][0] == bad_sha and "rank" in failed["bad"][1]
    asyncio.run(prefetcher.run_once())
    assert reports[-1][1] == failed  # still failed: it stays reported while that version is live
    publish_local(a=root / "a")  # retired
    asyncio.run(prefetcher.run_once())
    assert reports[-1][1] == {}


def test_a_transient_failure_is_retried_before_it_is_reported(approvals, adapter_cache, monkeypatch):  # noqa: F811
    gate, source, publish_local, root = approvals
    etag = ['"e1"']
    gate.manifest.tagged = lambda: (gate.manifest.peek(), etag[0])
    prefetcher, reporter, clock = Host().prefetcher(gate), Reporter(), Clock()
    prefetcher.reporter, prefetcher.clock = reporter, clock
    assert asyncio.run(prefetcher.run_once()) == {"a": "fetched", "b": "fetched"}
    real_get = gate.get

    async def flaky(name, spare=None):
        if name == "b":
            raise OSError("S3 read timed out")
        return await real_get(name, spare)

    monkeypatch.setattr(gate, "get", flaky)
    shutil.copytree(adapter_cache(seed=64), root / "b", dirs_exist_ok=True)  # a new version of b approved
    publish_local(a=root / "a", b=root / "b")
    etag[0] = '"e2"'
    outcomes = []
    for _ in range(MAX_ATTEMPTS + 1):
        outcomes.append(asyncio.run(prefetcher.run_once()))
        assert asyncio.run(prefetcher.run_once()) == {}  # not again before the gap has passed
        clock.now += prefetcher.retry_gap
    assert [o.get("b") for o in outcomes] == ["failed"] * MAX_ATTEMPTS + [None]  # then no more tries
    # meanwhile the instance still reports the manifest it took up before; then e2, with b's failure
    taken_up = [e for e, _ in reporter.reports]
    assert taken_up[1:2 * MAX_ATTEMPTS - 1] == ['"e1"'] * (2 * MAX_ATTEMPTS - 2)
    etag_now, failed = reporter.reports[-1]
    assert etag_now == '"e2"' and failed["b"][1] == "S3 read timed out"


def test_run_keeps_the_report_alive_beside_the_passes(approvals):  # noqa: F811
    gate = approvals[0]
    started = []

    class Alive(Reporter):
        async def keep_alive(self):
            started.append(True)
            await asyncio.sleep(3600)

    prefetcher = Host().prefetcher(gate)
    prefetcher.reporter = Alive()

    async def briefly():
        task = asyncio.create_task(prefetcher.run())
        for _ in range(200):
            if started and prefetcher.reporter.reports:
                break
            await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(briefly())
    assert started and prefetcher.reporter.reports


def test_a_malformed_manifest_is_never_reported_as_taken_up(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("{not json")
    manifest = LiveManifest(str(path), ttl=1)
    manifest._read = lambda: (b"{not json", '"e9"')  # as S3 answers: a body and its ETag
    manifest.get()
    assert manifest.tagged()[1] is None


def test_keep_alive_rewrites_the_last_report_while_no_pass_reports(bucket):
    s3, name = bucket
    reporter = InstanceReporter(f"s3://{name}/{MANIFEST_KEY}", client=s3, instance="i1")
    reporter.beat = 0.2  # seconds, for the test (HEARTBEAT_SECONDS in service)
    writes, real = [], reporter._put
    reporter._put = lambda body: (writes.append(body), real(body))

    async def scenario():
        await reporter.report('"e1"', {})
        task = asyncio.create_task(reporter.keep_alive())
        for _ in range(200):  # up to 10 s on a slow machine; a rewrite comes after about 0.25 s
            if len(writes) >= 2:
                break
            await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(scenario())
    assert len(writes) >= 2 and set(writes) == {writes[0]}  # the same report, written again


def test_a_report_that_cannot_be_read_is_ignored_not_fatal(bucket, caplog):
    s3, name = bucket
    mode = OnDemand(Endpoint([1]), s3, "ep", name)
    etag = publish(s3, name, helper=SHA)
    asyncio.run(InstanceReporter(f"s3://{name}/{MANIFEST_KEY}", client=s3, instance="i1").report(etag, {}))
    s3.put_object(Bucket=name, Key=report_key("locked"), Body=b"{}")
    real = s3.get_object

    def get_object(**kw):  # as a report written with a customer key (SSE-C) or archived answers
        if kw["Key"] == report_key("locked"):
            raise ClientError({"Error": {"Code": "InvalidRequest", "Message": "SSE-C"}}, "GetObject")
        return real(**kw)

    s3.get_object = get_object
    assert mode.status("helper") == ("InService", None) and mode.status("helper") == ("InService", None)
    assert sum("locked" in r.getMessage() for r in caplog.records) == 1  # logged once per key


def test_keep_alive_stops_once_passes_stop_reporting(bucket):
    s3, name = bucket
    clock = Clock()
    reporter = InstanceReporter(f"s3://{name}/{MANIFEST_KEY}", client=s3, clock=clock, instance="i1")
    reporter.beat = 0.2
    writes, real = [], reporter._put
    reporter._put = lambda body: (writes.append(body), real(body))

    async def scenario():
        await reporter.report('"e1"', {})
        clock.now += 100  # no pass has reported for 500 heartbeats: a stuck pass
        task = asyncio.create_task(reporter.keep_alive())
        await asyncio.sleep(0.5)
        task.cancel()

    asyncio.run(scenario())
    assert len(writes) == 1  # the report is left to go stale


def test_throttling_on_a_report_is_raised_for_the_step_to_retry(bucket):
    s3, name = bucket
    mode = OnDemand(Endpoint([1]), s3, "ep", name)
    etag = publish(s3, name, helper=SHA)
    asyncio.run(InstanceReporter(f"s3://{name}/{MANIFEST_KEY}", client=s3, instance="i1").report(etag, {}))
    real = s3.get_object

    def get_object(**kw):
        if kw["Key"] == report_key("i1"):
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "reduce your request rate"}}, "GetObject")
        return real(**kw)

    s3.get_object = get_object
    with pytest.raises(ClientError):
        mode.status("helper")


def test_an_endpoint_scaled_to_zero_does_not_wait_for_the_timer(bucket):
    s3, name = bucket
    publish(s3, name, helper=SHA)  # written an hour ahead: the timer has not passed, and no report
    assert OnDemand(Endpoint([0]), s3, "ep", name).status("helper")[0] == "InService"
    assert OnDemand(Endpoint([1]), s3, "ep", name).status("helper")[0] == "Publishing"
