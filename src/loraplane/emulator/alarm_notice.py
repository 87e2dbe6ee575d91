"""The Amazon SNS notification CloudWatch publishes when an alarm changes state: subject and JSON message.

Shape: AWS's own example payload (aws/aws-lambda-go, events/testdata/cloudwatch-alarm-sns-payload-single-metric.json)
and "Notifying users on alarm changes"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html): the
message is a JSON object with AlarmName, AlarmDescription, AWSAccountId, NewStateValue, NewStateReason,
StateChangeTime, Region (the region's name, "US East (N. Virginia)"), AlarmArn, OldStateValue and Trigger
(the alarm's metric and rule; statistics in capitals, dimensions as {"value", "name"}); the subject is
`ALARM: "<name>" in <region name>`.
"""
import functools
import json
from dataclasses import dataclass

from .alarm_rules import iso

MAX_SUBJECT = 100  # SNS's limit on a subject


@dataclass(frozen=True)
class AlarmView:
    """The parts of an alarm definition the notification repeats."""
    name: str
    arn: str
    description: str | None
    account: str
    region: str
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str | None
    extended_statistic: str | None
    unit: str | None
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int | None
    comparison: str
    threshold: float
    treat_missing: str | None
    low_sample: str | None
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    configuration_updated: object = None  # a datetime


@functools.cache
def region_name(region: str) -> str:
    """A region's name as AWS writes it (botocore's endpoint data), or its code when unknown."""
    import botocore.session

    for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
        found = partition["regions"].get(region)
        if found and found.get("description"):
            return found["description"]
    return region


def subject(state: str, alarm_name: str, region: str) -> str:
    text = f'{state}: "{alarm_name}" in {region_name(region)}'
    return text if len(text) <= MAX_SUBJECT else text[:MAX_SUBJECT - 3] + "..."


def trigger(alarm: AlarmView) -> dict:
    out = {"MetricName": alarm.metric_name, "Namespace": alarm.namespace}
    if alarm.extended_statistic:
        out |= {"StatisticType": "ExtendedStatistic", "ExtendedStatistic": alarm.extended_statistic}
    else:
        out |= {"StatisticType": "Statistic", "Statistic": (alarm.statistic or "").upper()}
    out |= {"Unit": alarm.unit, "Dimensions": [{"value": v, "name": k} for k, v in alarm.dimensions],
            "Period": alarm.period, "EvaluationPeriods": alarm.evaluation_periods}
    if alarm.datapoints_to_alarm is not None:
        out["DatapointsToAlarm"] = alarm.datapoints_to_alarm
    return out | {"ComparisonOperator": alarm.comparison, "Threshold": float(alarm.threshold),
                  "TreatMissingData": alarm.treat_missing or "missing",
                  "EvaluateLowSampleCountPercentile": alarm.low_sample or ""}


def message(alarm: AlarmView, old_state: str, new_state: str, reason: str, changed_at) -> dict:
    """The notification's JSON message (SNS `Message`) for one state change."""
    return {
        "AlarmName": alarm.name, "AlarmDescription": alarm.description, "AWSAccountId": alarm.account,
        "AlarmConfigurationUpdatedTimestamp": iso(alarm.configuration_updated) if alarm.configuration_updated else None,
        "NewStateValue": new_state, "NewStateReason": reason, "StateChangeTime": iso(changed_at),
        "Region": region_name(alarm.region), "AlarmArn": alarm.arn, "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions), "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions), "Trigger": trigger(alarm),
    }


def encode(msg: dict) -> str:
    return json.dumps(msg, separators=(",", ":"))
