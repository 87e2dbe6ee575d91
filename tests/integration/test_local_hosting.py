"""Local SageMaker hosting behind the emulator: endpoints and inference components that run the real
serving server (vLLM on the CPU, the tiny model), invoked through boto3's sagemaker-runtime.

One emulator for this module (not the session stack): models, endpoints and components are made
here with plain boto3 calls, as the control plane's Lambdas make them. vLLM starts cost ~30 s on two
cores: this module starts four (base component, its alarm-rolled-back update, a model endpoint and
its blue/green update); the broken-model update fails fast without one.
"""
import io
import json
import os
import tarfile

import boto3
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError

from loraplane.emulator import hosting
from loraplane.emulator.local_aws import CREDENTIALS
from loraplane.emulator.shims.sagemaker_hosting import container_for
from loraplane.emulator.shims.sagemaker_runtime import payload_part, stream_error
from loraplane.waiting import wait_until

BUCKET = "hosting-models"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
PROMPT = [322, 380, 364]
IC_ENDPOINT = "lora-endpoint"
START = 400  # seconds for a vLLM start on a busy 2-core machine


def wait_for(probe, timeout: float = START, what: str = "condition"):
    return wait_until(probe, timeout=timeout, interval=1, what=what)


def component(sm, name: str) -> dict:
    return sm.describe_inference_component(InferenceComponentName=name)


def settled(sm, name: str, busy=("Creating", "Updating")) -> dict:
    return wait_for(lambda: (d := component(sm, name))["InferenceComponentStatus"] not in busy and d,
                    what=f"{name} to settle")


def endpoint_settled(sm, name: str) -> dict:
    return wait_for(lambda: (d := sm.describe_endpoint(EndpointName=name))["EndpointStatus"]
                    not in ("Creating", "Updating", "RollingBack") and d, what=f"{name} to settle")


@pytest.fixture(scope="module")
def fast_bakes():
    saved = os.environ.get("LORAPLANE_WAIT_SCALE")
    os.environ["LORAPLANE_WAIT_SCALE"] = "0.01"  # baking periods of seconds, not minutes
    yield
    os.environ.pop("LORAPLANE_WAIT_SCALE") if saved is None else os.environ.__setitem__("LORAPLANE_WAIT_SCALE", saved)


@pytest.fixture(scope="module")
def aws(emulator, fast_bakes, tiny_base_dir):
    """The session's emulator (one per process: moto's backends are global), with resources of its own."""
    # Models in the emulator's S3: the tiny model (two names), and one whose config.json is garbage.
    s3, sm = emulator.client("s3"), emulator.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    for f in os.listdir(tiny_base_dir):
        s3.upload_file(os.path.join(tiny_base_dir, f), BUCKET, f"models/tiny/{f}")
        body = b"{ garbage" if f == "config.json" else open(os.path.join(tiny_base_dir, f), "rb").read()
        s3.put_object(Bucket=BUCKET, Key=f"models/broken/{f}", Body=body)
    for name, prefix in (("tiny", "tiny"), ("tiny-b", "tiny"), ("broken", "broken")):
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/loraplane:latest",
            "Environment": {"LORAPLANE_BASE_NAME": "tiny-llama", "LORAPLANE_MAX_LORA_RANK": "16"},
            "ModelDataSource": {"S3DataSource": {"S3Uri": f"s3://{BUCKET}/models/{prefix}/", "S3DataType": "S3Prefix",
                                                 "CompressionType": "None"}}})
    return emulator, s3, sm, emulator.client("sagemaker-runtime")


def upload_adapter(s3, folder: str, name: str, archive: bool = False) -> str:
    files = ("adapter_config.json", "adapter_model.safetensors")
    if not archive:
        for f in files:
            s3.upload_file(os.path.join(folder, f), BUCKET, f"adapters/{name}/{f}")
        return f"s3://{BUCKET}/adapters/{name}/"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in files:
            tar.add(os.path.join(folder, f), arcname=f)
    s3.put_object(Bucket=BUCKET, Key=f"adapters/{name}.tar.gz", Body=buf.getvalue())
    return f"s3://{BUCKET}/adapters/{name}.tar.gz"


@pytest.fixture(scope="module")
def lora_endpoint(aws, adapter_cache):
    """An inference-component endpoint: base component on the tiny model, two adapter components
    (one artifact an S3 prefix, one an adapter.tar.gz)."""
    emulator, s3, sm, _ = aws
    sm.create_endpoint_config(EndpointConfigName="lora-config", ExecutionRoleArn=ROLE, ProductionVariants=[{
        "VariantName": "AllTraffic", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1,
        "ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": 1, "MaxInstanceCount": 1},
        "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}])
    sm.create_endpoint(EndpointName=IC_ENDPOINT, EndpointConfigName="lora-config")
    assert sm.describe_endpoint(EndpointName=IC_ENDPOINT)["EndpointStatus"] == "InService"
    sm.create_inference_component(
        InferenceComponentName="base", EndpointName=IC_ENDPOINT, VariantName="AllTraffic",
        Specification={"ModelName": "tiny", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024,
                                                                             "NumberOfAcceleratorDevicesRequired": 1}},
        RuntimeConfig={"CopyCount": 1})
    prefix_uri = upload_adapter(s3, adapter_cache(seed=11), "ad-one")
    archive_uri = upload_adapter(s3, adapter_cache(seed=12), "ad-two", archive=True)
    for name, uri in (("ad-one", prefix_uri), ("ad-two", archive_uri)):
        sm.create_inference_component(InferenceComponentName=name, EndpointName=IC_ENDPOINT,
                                      Specification={"BaseInferenceComponentName": "base",
                                                     "Container": {"ArtifactUrl": uri}})
    assert component(sm, "ad-one")["InferenceComponentStatus"] == "Creating"  # creates return at once
    base = settled(sm, "base")
    assert base["InferenceComponentStatus"] == "InService", base.get("FailureReason")
    for name in ("ad-one", "ad-two"):
        d = settled(sm, name)
        assert d["InferenceComponentStatus"] == "InService", d.get("FailureReason")
    yield sm
    sm.delete_endpoint(EndpointName=IC_ENDPOINT)  # its containers stop with it
    assert container_for(IC_ENDPOINT, "base") is None


def tokens(rt, endpoint: str = IC_ENDPOINT, **kwargs) -> list[int]:
    body = {"prompt": PROMPT, "max_tokens": 8, "temperature": 0, "return_token_ids": True}
    r = rt.invoke_endpoint(EndpointName=endpoint, Body=json.dumps(body), ContentType="application/json", **kwargs)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    return json.loads(r["Body"].read())["choices"][0]["token_ids"]


def error_of(call) -> dict:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response


# -- event-stream framing (no server) ----------------------------------------------------------------
def test_event_stream_frames_decode_with_botocore():
    buf = EventStreamBuffer()
    buf.add_data(payload_part(b"data: {\"a\": 1}\n\n") + payload_part(b"") + stream_error("broke"))
    first, empty, error = list(buf)
    assert first.headers == {":event-type": "PayloadPart", ":content-type": "application/octet-stream",
                             ":message-type": "event"}
    assert first.payload == b"data: {\"a\": 1}\n\n" and empty.payload == b""
    assert error.headers[":message-type"] == "exception" and error.headers[":exception-type"] == "ModelStreamError"
    assert json.loads(error.payload)["Message"] == "broke"


# -- inference components --------------------------------------------------------------------------
def test_base_and_adapter_components_answer(aws, lora_endpoint):
    _, _, sm, rt = aws
    base = tokens(rt, InferenceComponentName="base")
    one, two = tokens(rt, InferenceComponentName="ad-one"), tokens(rt, InferenceComponentName="ad-two")
    assert len(base) == 8 and one != base and two != base and one != two
    assert tokens(rt, InferenceComponentName="ad-one") == one  # greedy: stable
    listed = sm.list_inference_components(EndpointNameEquals=IC_ENDPOINT, StatusEquals="InService",
                                          SortBy="Name", SortOrder="Ascending")["InferenceComponents"]
    assert [c["InferenceComponentName"] for c in listed] == ["ad-one", "ad-two", "base"]
    assert [c["InferenceComponentName"] for c in sm.list_inference_components(NameContains="ad-t")["InferenceComponents"]] == ["ad-two"]
    container = container_for(IC_ENDPOINT, "ad-one")
    assert container is container_for(IC_ENDPOINT, "base") and container.alive() and container.log_path.exists()


def test_tgi_body_and_response_headers(aws, lora_endpoint):
    _, _, _, rt = aws
    r = rt.invoke_endpoint(EndpointName=IC_ENDPOINT, InferenceComponentName="ad-one", ContentType="application/json",
                           Body=json.dumps({"inputs": "Hello world", "parameters": {"max_new_tokens": 8}}))
    assert r["InvokedProductionVariant"] == "AllTraffic" and r["ContentType"].startswith("application/json")
    out = json.loads(r["Body"].read())
    assert isinstance(out, list) and isinstance(out[0]["generated_text"], str)


def test_response_stream_yields_payload_parts(aws, lora_endpoint):
    _, _, _, rt = aws
    body = {"prompt": PROMPT, "max_tokens": 8, "temperature": 0, "stream": True}
    r = rt.invoke_endpoint_with_response_stream(EndpointName=IC_ENDPOINT, InferenceComponentName="ad-two",
                                                Body=json.dumps(body), ContentType="application/json")
    parts = [e["PayloadPart"]["Bytes"] for e in r["Body"]]
    text = b"".join(parts).decode()
    assert parts and "data:" in text and text.rstrip().endswith("data: [DONE]")
    assert r["ContentType"].startswith("text/event-stream")


def test_requests_aws_refuses(aws, lora_endpoint):
    emulator, _, _, rt = aws
    unchecked = boto3.client("sagemaker-runtime", endpoint_url=emulator.url, region_name=emulator.region,
                             config=Config(parameter_validation=False, retries={"max_attempts": 1}), **CREDENTIALS)
    cases = {
        "no Body": lambda: unchecked.invoke_endpoint(EndpointName=IC_ENDPOINT, InferenceComponentName="base"),
        "long name": lambda: rt.invoke_endpoint(EndpointName="e" * 64, Body=b"{}"),
        "bad name": lambda: rt.invoke_endpoint(EndpointName="bad_name", Body=b"{}"),
        "unknown endpoint": lambda: rt.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"{}"),
        "no component": lambda: rt.invoke_endpoint(EndpointName=IC_ENDPOINT, Body=b"{}"),
        "unknown component": lambda: rt.invoke_endpoint(EndpointName=IC_ENDPOINT, InferenceComponentName="nope",
                                                        Body=b"{}"),
    }
    for case, call in cases.items():
        err = error_of(call)
        assert err["Error"]["Code"] == "ValidationError" and err["ResponseMetadata"]["HTTPStatusCode"] == 400, case
    assert "Value null at 'body'" in error_of(cases["no Body"])["Error"]["Message"]
    assert "length less than or equal to 63" in error_of(cases["long name"])["Error"]["Message"]
    assert error_of(cases["unknown endpoint"])["Error"]["Message"] == \
        "Endpoint no-such-endpoint of account 123456789012 not found."


def test_container_errors_become_model_errors(aws, lora_endpoint):
    _, _, _, rt = aws
    err = error_of(lambda: rt.invoke_endpoint(EndpointName=IC_ENDPOINT, InferenceComponentName="ad-one",
                                              Body=b"{not json", ContentType="application/json"))
    assert err["Error"]["Code"] == "ModelError" and err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 400 and "error" in json.loads(err["OriginalMessage"])
    assert "Received client error (400) from primary" in err["Error"]["Message"]


def test_control_plane_requests_aws_refuses(aws, lora_endpoint):
    _, _, sm, _ = aws
    refused = [
        lambda: sm.create_inference_component(InferenceComponentName="x_bad", EndpointName=IC_ENDPOINT,
                                              Specification={"ModelName": "tiny"}, RuntimeConfig={"CopyCount": 1}),
        lambda: sm.create_inference_component(InferenceComponentName="orphan", EndpointName=IC_ENDPOINT, Specification={
            "BaseInferenceComponentName": "no-such-base", "Container": {"ArtifactUrl": f"s3://{BUCKET}/adapters/x/"}}),
        lambda: sm.create_inference_component(InferenceComponentName="base", EndpointName=IC_ENDPOINT, Specification={
            "ModelName": "tiny", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024}}, RuntimeConfig={"CopyCount": 1}),
        lambda: sm.delete_inference_component(InferenceComponentName="base"),  # adapters still use it
        lambda: sm.describe_inference_component(InferenceComponentName="no-such-component"),
        lambda: sm.update_endpoint(EndpointName=IC_ENDPOINT, EndpointConfigName="no-such-config"),
    ]
    for call in refused:
        assert error_of(call)["Error"]["Code"] == "ValidationException"


def test_adapter_that_the_container_refuses_fails(aws, lora_endpoint, adapter_cache):
    _, s3, sm, _ = aws
    uri = upload_adapter(s3, adapter_cache(rank=32), "too-big-rank")  # the container allows rank 16
    sm.create_inference_component(InferenceComponentName="ad-rank", EndpointName=IC_ENDPOINT, Specification={
        "BaseInferenceComponentName": "base", "Container": {"ArtifactUrl": uri}})
    d = settled(sm, "ad-rank")
    assert d["InferenceComponentStatus"] == "Failed" and "rank" in d["FailureReason"]
    # A failed component is fixed by an update with a good artifact.
    sm.update_inference_component(InferenceComponentName="ad-rank", Specification={
        "BaseInferenceComponentName": "base", "Container": {"ArtifactUrl": upload_adapter(s3, adapter_cache(seed=13), "fixed")}})
    d = settled(sm, "ad-rank")
    assert d["InferenceComponentStatus"] == "InService" and "FailureReason" not in d
    assert len(tokens(aws[3], InferenceComponentName="ad-rank")) == 8
    sm.delete_inference_component(InferenceComponentName="ad-rank")


def test_base_update_to_broken_model_rolls_back(aws, lora_endpoint):
    _, _, sm, rt = aws
    before = tokens(rt, InferenceComponentName="ad-one")
    sm.update_inference_component(InferenceComponentName="base", Specification={"ModelName": "broken"},
                                  DeploymentConfig={"RollingUpdatePolicy": {
                                      "MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1}, "WaitIntervalInSeconds": 60}})
    assert component(sm, "base")["InferenceComponentStatus"] == "Updating"
    assert error_of(lambda: sm.update_inference_component(InferenceComponentName="base", RuntimeConfig={"CopyCount": 1})
                    )["Error"]["Code"] == "ValidationException"  # not InService
    d = settled(sm, "base")
    assert d["InferenceComponentStatus"] == "InService" and d["Specification"]["ModelName"] == "tiny"
    assert "rolled back" in d["FailureReason"] and "log:" in d["FailureReason"]
    assert "RollingUpdatePolicy" in d["LastDeploymentConfig"]
    assert tokens(rt, InferenceComponentName="ad-one") == before


def test_base_update_rolls_back_on_alarm(aws, lora_endpoint):
    emulator, _, sm, rt = aws
    cw = emulator.client("cloudwatch")
    cw.put_metric_alarm(AlarmName="ic-errors", MetricName="Invocation5XXErrors", Namespace="AWS/SageMaker",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName="ic-errors", StateValue="ALARM", StateReason="test")
    blue = container_for(IC_ENDPOINT, "base")
    before = tokens(rt, InferenceComponentName="ad-two")
    sm.update_inference_component(InferenceComponentName="base", Specification={"ModelName": "tiny-b"},
                                  DeploymentConfig={"RollingUpdatePolicy": {
                                      "MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1}, "WaitIntervalInSeconds": 100},
                                      "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "ic-errors"}]}})
    d = settled(sm, "base")
    assert d["InferenceComponentStatus"] == "InService" and d["Specification"]["ModelName"] == "tiny"
    assert "ic-errors" in d["FailureReason"]
    assert container_for(IC_ENDPOINT, "base") is blue and blue.alive()
    assert tokens(rt, InferenceComponentName="ad-two") == before
    assert len([c for c in hosting.manager().containers if c.label == f"{IC_ENDPOINT}-base"]) == 1  # green stopped


def test_deleted_adapter_no_longer_answers(aws, lora_endpoint, adapter_cache):
    _, s3, sm, rt = aws
    sm.create_inference_component(InferenceComponentName="ad-gone", EndpointName=IC_ENDPOINT, Specification={
        "BaseInferenceComponentName": "base", "Container": {"ArtifactUrl": upload_adapter(s3, adapter_cache(seed=14),
                                                                                          "gone")}})
    assert settled(sm, "ad-gone")["InferenceComponentStatus"] == "InService"
    assert len(tokens(rt, InferenceComponentName="ad-gone")) == 8
    sm.delete_inference_component(InferenceComponentName="ad-gone")
    wait_for(lambda: not sm.list_inference_components(NameContains="ad-gone")["InferenceComponents"], timeout=60,
             what="ad-gone to go")
    err = error_of(lambda: tokens(rt, InferenceComponentName="ad-gone"))
    assert err["Error"]["Code"] == "ValidationError"
    assert len(tokens(rt, InferenceComponentName="ad-one")) == 8


# -- a model-variant endpoint ------------------------------------------------------------------------
def test_model_endpoint_create_and_blue_green_update(aws, request):
    _, _, sm, rt = aws
    for config, model in (("model-config-a", "tiny"), ("model-config-b", "tiny-b"), ("model-config-broken", "broken")):
        sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
            "VariantName": "primary", "ModelName": model, "InstanceType": "ml.g6.xlarge", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="model-endpoint", EndpointConfigName="model-config-a")
    request.addfinalizer(lambda: hosting.manager().stop(container_for("model-endpoint")))  # also on failure
    assert sm.describe_endpoint(EndpointName="model-endpoint")["EndpointStatus"] == "Creating"
    assert error_of(lambda: sm.update_endpoint(EndpointName="model-endpoint", EndpointConfigName="model-config-b")
                    )["Error"]["Message"].startswith("Cannot update in-progress endpoint")
    assert error_of(lambda: tokens(rt, "model-endpoint"))["Error"]["Code"] == "ValidationError"  # not yet serving
    d = endpoint_settled(sm, "model-endpoint")
    assert d["EndpointStatus"] == "InService", d.get("FailureReason")
    base = tokens(rt, "model-endpoint")
    assert error_of(lambda: tokens(rt, "model-endpoint", InferenceComponentName="base"))["Error"]["Code"] == "ValidationError"
    blue = container_for("model-endpoint")

    # Green never healthy: rolled back, the old config keeps serving.
    sm.update_endpoint(EndpointName="model-endpoint", EndpointConfigName="model-config-broken")
    d = endpoint_settled(sm, "model-endpoint")
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == "model-config-a"
    assert "rolled back" in d["FailureReason"] and "PendingDeploymentSummary" not in d
    assert container_for("model-endpoint") is blue and tokens(rt, "model-endpoint") == base

    sm.update_endpoint(EndpointName="model-endpoint", EndpointConfigName="model-config-b", DeploymentConfig={
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60},
                                  "TerminationWaitInSeconds": 120}})
    updating = sm.describe_endpoint(EndpointName="model-endpoint")
    assert updating["EndpointStatus"] == "Updating" and updating["EndpointConfigName"] == "model-config-a"
    assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == "model-config-b"
    assert tokens(rt, "model-endpoint") == base  # blue serves during the update
    d = endpoint_settled(sm, "model-endpoint")
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == "model-config-b", d.get("FailureReason")
    assert "FailureReason" not in d and "BlueGreenUpdatePolicy" in d["LastDeploymentConfig"]
    green = container_for("model-endpoint")
    assert green is not blue and not blue.alive()
    assert tokens(rt, "model-endpoint") == base  # same weights under the new model name

    sm.delete_endpoint(EndpointName="model-endpoint")
    assert not green.alive() and container_for("model-endpoint") is None
