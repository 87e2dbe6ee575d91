"""The emulator's CloudFormation runs Lambda-backed custom resources as AWS does (shim
cfn_custom_resources): Create waits for the answer, DeleteStack sends Delete and waits; a FAILED
answer leaves the stack DELETE_FAILED with the reason, and deleting again retries."""
import io
import json
import zipfile

import pytest

HANDLER = '''
import json, os, urllib.request

def handler(event, context):
    marker = event["ResourceProperties"]["Marker"]
    failed_once = os.path.exists(marker)
    status = "SUCCESS"
    if event["RequestType"] == "Delete" and not failed_once:
        open(marker, "w").close()
        status = "FAILED"
    body = json.dumps({"Status": status, "Reason": "first delete refused" if status == "FAILED" else "ok",
                       "PhysicalResourceId": "probe", "StackId": event["StackId"], "RequestId": event["RequestId"],
                       "LogicalResourceId": event["LogicalResourceId"], "Data": {"Answer": "42"}}).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
    urllib.request.urlopen(request, timeout=10).read()  # as AWS's cfnresponse: no content type
'''


def template(marker: str) -> str:
    return json.dumps({"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole"}]}}},
        "Probe": {"Type": "AWS::Lambda::Function", "Properties": {
            "FunctionName": "cfn-probe", "Runtime": "python3.11", "Handler": "index.handler", "Timeout": 30,
            "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": {"S3Bucket": "cfn-probe-code", "S3Key": "probe.zip"}}},
        "Custom": {"Type": "Custom::Probe", "Properties": {"ServiceToken": {"Fn::GetAtt": ["Probe", "Arn"]},
                                                          "Marker": marker}}},
        "Outputs": {"Answer": {"Value": {"Fn::GetAtt": ["Custom", "Answer"]}}}})


@pytest.fixture
def probe_stack(emulator, tmp_path):
    s3, cfn = emulator.client("s3"), emulator.client("cloudformation")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", HANDLER)
    s3.create_bucket(Bucket="cfn-probe-code")
    s3.put_object(Bucket="cfn-probe-code", Key="probe.zip", Body=buf.getvalue())
    cfn.create_stack(StackName="cfn-probe", TemplateBody=template(str(tmp_path / "failed-once")),
                     Capabilities=["CAPABILITY_IAM"])
    cfn.get_waiter("stack_create_complete").wait(StackName="cfn-probe", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return cfn


def test_custom_resource_answers_are_awaited_on_create_and_delete(probe_stack):
    cfn = probe_stack
    stack = cfn.describe_stacks(StackName="cfn-probe")["Stacks"][0]
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {"Answer": "42"}

    cfn.delete_stack(StackName="cfn-probe")
    with pytest.raises(Exception, match="DELETE_FAILED"):
        cfn.get_waiter("stack_delete_complete").wait(StackName="cfn-probe", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    events = cfn.describe_stack_events(StackName="cfn-probe")["StackEvents"]
    assert any("first delete refused" in (e.get("ResourceStatusReason") or "") for e in events)
    assert cfn.describe_stacks(StackName="cfn-probe")["Stacks"][0]["StackStatus"] == "DELETE_FAILED"

    cfn.delete_stack(StackName="cfn-probe")  # the retry: the function now answers SUCCESS
    cfn.get_waiter("stack_delete_complete").wait(StackName="cfn-probe", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
