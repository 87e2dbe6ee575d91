"""EventBridge -> Step Functions and Lambda targets.

moto's rules deliver only to SQS, logs, archives, buses and API destinations (anything else
raises NotImplementedError). Here a matching rule starts the state machine or invokes the
function through the emulator's own API, asynchronously and with retries, as EventBridge does;
an event that still fails goes to the target's dead-letter queue. Also: moto lets a schedule-only
rule (no event pattern) match every event put on the bus; AWS fires those on their schedule only
(and the emulator runs no scheduler: `loraplane reconcile` runs the scheduled reconciler by hand).
"""
import copy
import functools
import json
import logging
import threading
import time
import uuid

import boto3
from botocore.config import Config

from .events_bus import iso_time

log = logging.getLogger(__name__)
HANDLED = ("states", "lambda")
ATTEMPTS = 3
_endpoint = {"url": None}


def _client(service: str, region: str):
    return _shared_client(service, region, _endpoint["url"])


@functools.lru_cache(maxsize=None)
def _shared_client(service: str, region: str, url: str | None):
    """One per service (botocore clients are thread-safe): a client per delivery cost more CPU than
    the delivery under a burst of events."""
    return boto3.client(service, endpoint_url=url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": 0}, max_pool_connections=64))


def target_input(target: dict, event: dict) -> str:
    if "Input" in target:
        return target["Input"]
    if "InputPath" in target:
        from jsonpath_ng import parse as jsonpath

        matches = jsonpath(target["InputPath"]).find(event)
        return json.dumps(matches[0].value if matches else None)
    return json.dumps(event)


def deliver(target: dict, event: dict, region: str) -> None:
    arn = target["Arn"]
    event = iso_time(event)
    payload = target_input(target, event)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            if arn.split(":")[2] == "states":
                _client("stepfunctions", region).start_execution(
                    stateMachineArn=arn, name=f"{event.get('id', uuid.uuid4())}"[:80], input=payload)
            else:
                _client("lambda", region).invoke(FunctionName=arn, InvocationType="Event", Payload=payload)
            return
        except Exception as e:  # noqa: BLE001 - any failure counts as a failed delivery
            if "ExecutionAlreadyExists" in str(e):
                return  # the same event id was delivered already: StartExecution is idempotent by name
            log.warning("delivery of %s to %s failed (attempt %d): %s", event.get("id"), arn, attempt, e)
            time.sleep(0.2 * attempt)
    dlq = target.get("DeadLetterConfig", {}).get("Arn")
    if dlq:
        _client("sqs", region).send_message(
            QueueUrl=_client("sqs", region).get_queue_url(QueueName=dlq.split(":")[-1])["QueueUrl"],
            MessageBody=json.dumps(event),
            MessageAttributes={"RULE_ARN": {"DataType": "String", "StringValue": target.get("Id", "")},
                               "TARGET_ARN": {"DataType": "String", "StringValue": arn}},
        )


def install() -> None:
    from moto.events.models import Rule

    original = Rule.send_to_targets

    def send_to_targets(self, event, transform_input: bool = True) -> None:
        if self.scheduled_expression and not self.event_pattern._pattern:
            return  # a schedule rule: not triggered by events
        if not self.event_pattern.matches_event(event):
            return
        ours = [t for t in self.targets if t["Arn"].split(":")[2] in HANDLED]
        for target in ours:
            threading.Thread(target=deliver, args=(target, copy.deepcopy(event), self.region_name), daemon=True).start()
        if len(ours) < len(self.targets):
            rest = copy.copy(self)
            rest.targets = [t for t in self.targets if t not in ours]
            original(rest, event, transform_input)

    Rule.send_to_targets = send_to_targets


def set_endpoint(url: str) -> None:
    _endpoint["url"] = url
