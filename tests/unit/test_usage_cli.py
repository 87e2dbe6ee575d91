"""`loraplane usage`: --since is a duration CloudWatch can answer or a named usage error, the window is
whole hours, and hourly sums read with GetMetricData (in-process moto) come out per adapter and hour."""
import datetime
import json

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraplane import usage
from loraplane.cli_errors import USAGE, explain

HOUR = datetime.timedelta(hours=1)


@pytest.mark.parametrize("text, hours", [("1h", 1), ("36h", 36), ("7d", 168), (" 2w ", 336), ("455d", 455 * 24)])
def test_durations(text, hours):
    assert usage.parse_since(text) == hours * HOUR


@pytest.mark.parametrize("text", ["", "0h", "456d", "7", "d7", "7 d", "1.5d", "-1d", "7D", "٣d", "99999999999d", "7d\n1"])
def test_rejections_are_one_line_usage_errors(text):
    with pytest.raises(usage.InvalidSince) as e:
        usage.parse_since(text)
    code, line = explain(e.value)
    assert code == USAGE and line.startswith("error: --since") and "\n" not in line


@given(st.text(max_size=40))
def test_any_text_is_a_window_or_a_named_rejection(text):
    try:
        window = usage.parse_since(text)
    except usage.InvalidSince:
        return
    assert HOUR <= window <= usage.MAX_SINCE and window % HOUR == datetime.timedelta(0)


def test_the_window_is_the_whole_hours_holding_the_last_since():
    start, end = usage.window(3 * HOUR, datetime.datetime(2026, 5, 1, 10, 42, 7, tzinfo=datetime.timezone.utc))
    assert (start.hour, end.hour, end - start) == (7, 11, 4 * HOUR)
    # just after the hour: the hour before is read too (a request at 09:59 counts for --since 1h)
    start, end = usage.window(HOUR, datetime.datetime(2026, 5, 1, 10, 0, 30, tzinfo=datetime.timezone.utc))
    assert (start.hour, end.hour) == (9, 11)


def test_adapter_names_are_checked():
    assert usage.check_adapter("bot-1") == "bot-1" and usage.check_adapter("_base") == "_base"
    with pytest.raises(usage.Usage):
        usage.check_adapter("Bad Name")


def test_hourly_sums_per_adapter_from_cloudwatch(in_process_aws):
    now = datetime.datetime.now(datetime.timezone.utc)
    endpoint = f"usage-{in_process_aws}-endpoint"
    cw = boto3.client("cloudwatch", region_name="us-east-1")

    def put(adapter, at, on=endpoint, **values):
        cw.put_metric_data(Namespace="LoRAPlane/Serving", MetricData=[
            {"MetricName": name, "Value": value, "Timestamp": at, "Unit": "Count",
             "Dimensions": usage.dimensions(on, adapter)} for name, value in values.items()])

    this_hour = now.replace(minute=0, second=0, microsecond=0)
    put("bot", this_hour + datetime.timedelta(seconds=1), Requests=1, PromptTokens=5, GeneratedTokens=8)
    put("bot", this_hour + datetime.timedelta(seconds=2), Requests=2, PromptTokens=10, GeneratedTokens=16)
    put("bot", this_hour - 2 * HOUR, Requests=1, PromptTokens=1, GeneratedTokens=1)
    put("bot", this_hour, on="another-endpoint", Requests=7)  # another endpoint's: not read below
    start, end = usage.window(3 * HOUR, now)
    found = usage.read(boto3.Session(region_name="us-east-1"), endpoint, ["bot", "_base"], start, end,
                       "LoRAPlane/Serving")
    assert found == {"bot": {
        usage.iso(this_hour - 2 * HOUR): {"requests": 1, "prompt_tokens": 1, "generated_tokens": 1},
        usage.iso(this_hour): {"requests": 3, "prompt_tokens": 15, "generated_tokens": 24}}}


REPORT = {"stack": "s", "endpoint": "e", "namespace": "LoRAPlane/Serving", "period_seconds": 3600,
          "start": "2026-05-01T08:00:00Z", "end": "2026-05-01T11:00:00Z", "adapters": [
              {"adapter": "bot", "requests": 3, "prompt_tokens": 15, "generated_tokens": 24,
               "hours": [{"hour": "2026-05-01T10:00:00Z", "requests": 3, "prompt_tokens": 15, "generated_tokens": 24}]}]}


def test_renderings():
    assert json.loads(usage.render(REPORT, "json")) == REPORT
    assert usage.render(REPORT, "csv").splitlines() == [
        "adapter,hour,requests,prompt_tokens,generated_tokens", "bot,2026-05-01T10:00:00Z,3,15,24"]
    table = usage.render(REPORT, "table").splitlines()
    assert table[1].split() == ["adapter", "requests", "prompt_tokens", "generated_tokens", "hours"]
    assert table[2].split() == ["bot", "3", "15", "24", "1"]
    assert "no requests" in usage.render({**REPORT, "adapters": []}, "table")


def test_without_adapter_every_recorded_and_reserved_adapter_is_read(in_process_aws):
    endpoint = f"list-{in_process_aws}-endpoint"
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    cw.put_metric_data(Namespace="LoRAPlane/Serving", MetricData=[
        {"MetricName": "Requests", "Value": 1, "Dimensions": usage.dimensions(endpoint, "seen-lately")}])
    dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
    table = dynamodb.create_table(TableName=f"catalog-{in_process_aws}", BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                             {"AttributeName": "sk", "KeyType": "RANGE"}],
                                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                        {"AttributeName": "sk", "AttributeType": "S"}])
    table.put_item(Item={"pk": "adapter#old-bot", "sk": "version#1", "adapter_name": "old-bot"})
    session = boto3.Session(region_name="us-east-1")
    found = usage.adapters_to_read(session, {"CatalogTableName": table.name}, endpoint, "LoRAPlane/Serving")
    assert found == ["_base", "_other", "old-bot", "seen-lately"]
