"""What users are told over SNS about each upload."""
import json

from loraplane_core.ingest.payloads import RecordRequest


def message_for(req: RecordRequest, adapter_name: str) -> tuple[str, dict]:
    v = req.validation
    if req.kind == "registered":
        assert v and req.registration
        subject = f"LoRA adapter {adapter_name} registered (version {req.registration.package_version})"
        body = {"package_arn": req.registration.package_arn, "approval_status": req.registration.approval_status,
                "sha256": v.sha256, "base_model": v.base_model, "rank": v.rank}
    elif req.kind == "rejected":
        assert v
        subject = f"LoRA adapter {adapter_name} rejected: {v.reason}"
        body = {"reason": v.reason, "message": v.message}
    else:
        subject = f"LoRA adapter {adapter_name} ingest failed"
        body = {"error": req.error.Error if req.error else "Unknown", "cause": req.error.Cause if req.error else None,
                "execution": req.execution}
    body = {"event": f"adapter.{req.kind}", "adapter_name": adapter_name, "source": v.source if v else None} | body
    # SNS subjects: printable ASCII, no line breaks, under 100 characters (names may be hostile).
    subject = "".join(c if 32 <= ord(c) < 127 else "?" for c in subject)
    return subject[:99], body


def publish(sns, topic_arn: str, req: RecordRequest, adapter_name: str) -> str:
    subject, body = message_for(req, adapter_name)
    resp = sns.publish(
        TopicArn=topic_arn, Subject=subject, Message=json.dumps(body, indent=2),
        MessageAttributes={
            "event": {"DataType": "String", "StringValue": body["event"]},
            "adapter_name": {"DataType": "String", "StringValue": adapter_name},
        },
    )
    return resp["MessageId"]
