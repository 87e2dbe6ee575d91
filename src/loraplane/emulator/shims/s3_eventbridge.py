"""S3 -> EventBridge "Object Created" events in AWS's documented shape.

moto sends them, but as `eTag` (AWS: `etag`), with a Unix `time` (AWS: ISO 8601) and one fixed
`sequencer`, so Powertools' S3 EventBridge model rejects them. This replaces moto's sender.
"""
import itertools

from .events_bus import emit, service_event

_sequence = itertools.count(1)
REASONS = {"Put": "PutObject", "Post": "POST Object", "Copy": "CopyObject", "CompleteMultipartUpload": "CompleteMultipartUpload"}


def object_created_event(account: str, bucket, event_name: str, key) -> dict | None:
    kind, _, action = event_name.removeprefix("s3:").partition(":")
    if kind != "ObjectCreated":
        return None
    obj = {"key": key.name, "size": key.size, "etag": key.etag.strip('"'), "sequencer": f"{next(_sequence):016X}"}
    if key.version_id and key.version_id != "null":
        obj["version-id"] = key.version_id
    return service_event(
        "aws.s3", "Object Created", account, bucket.region_name, [bucket.arn],
        {"version": "0", "bucket": {"name": bucket.name}, "object": obj, "request-id": "LOCAL0000000000",
         "requester": account, "source-ip-address": "127.0.0.1", "reason": REASONS.get(action, "PutObject")},
    )


def _send(account_id: str, bucket, event_name: str, key) -> None:
    event = object_created_event(account_id, bucket, event_name, key)
    if event is not None:
        emit(account_id, bucket.region_name, event)


def install() -> None:
    from moto.s3 import notifications

    notifications._send_event_bridge_message = _send
