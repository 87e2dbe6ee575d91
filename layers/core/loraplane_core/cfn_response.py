"""Answers a CloudFormation custom resource request: a PUT of the JSON result to the pre-signed
ResponseURL of the event (what AWS's `cfnresponse` module does; Powertools parses the event but
has no sender). urllib only: the Lambda runtime has no `requests`."""
import json
import urllib.request

MAX_REASON = 1000  # CloudFormation shows the reason in the stack events; keep it short


def body(event: dict, status: str, physical_id: str, reason: str = "", data: dict | None = None) -> bytes:
    return json.dumps({
        "Status": status, "Reason": reason[:MAX_REASON] or status, "PhysicalResourceId": physical_id,
        "StackId": event["StackId"], "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"], "NoEcho": False, "Data": data or {},
    }).encode()


def send(event: dict, status: str, physical_id: str, reason: str = "", data: dict | None = None,
         timeout: float = 30) -> None:
    payload = body(event, status, physical_id, reason, data)
    # The pre-signed URL is signed for an empty content type.
    request = urllib.request.Request(event["ResponseURL"], data=payload, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(payload))})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - CloudFormation's URL
        response.read()
