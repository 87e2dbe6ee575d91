"""ServingMode async, decided from the settings alone (no moto): the endpoint config's
AsyncInferenceConfig, the variant's auto scaling to zero instances (AWS's recommended policies), waking
it for a smoke test, the names it owns, and how a request reaches an adapter."""
import io

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from loraplane_core import async_inference
from loraplane_core.deployment import base_endpoint, scaling
from loraplane_core.deployment.serving_modes import invoke_args
from loraplane_core.endpoint_names import async_config, base_model_name, owned_by
from loraplane_core.settings import Settings
from tests.unit.recorder import Recorder, policy_arns

SETTINGS = Settings(project_name="p", project_id="i", adapter_bucket="b", catalog_table="catalog",
                    idempotency_table="x", topic_arn="t", adapter_group="g", base_group="bg", serving_image_uri="img",
                    endpoint_name="p-i-endpoint", execution_role_arn="arn:aws:iam::1:role/endpoint",
                    serving_mode="async", async_success_topic_arn="arn:aws:sns:r:1:ok",
                    async_error_topic_arn="arn:aws:sns:r:1:err")


def settings(**update) -> Settings:
    return SETTINGS.model_copy(update=update)


def test_the_async_inference_config_writes_under_the_bucket_and_notifies_both_topics():
    assert async_inference.config("b", "arn:ok", "arn:err") == {
        "OutputConfig": {"S3OutputPath": "s3://b/async/outputs", "S3FailurePath": "s3://b/async/failures",
                         "NotificationConfig": {"SuccessTopic": "arn:ok", "ErrorTopic": "arn:err"}},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": async_inference.MAX_CONCURRENT_PER_INSTANCE}}
    assert "NotificationConfig" not in async_inference.config("b", "", "")["OutputConfig"]


class FakeSageMaker:
    def __init__(self):
        self.configs = {}

    def describe_endpoint_config(self, EndpointConfigName):
        if EndpointConfigName not in self.configs:
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Could not find config"}}, "x")
        return self.configs[EndpointConfigName]

    def create_endpoint_config(self, EndpointConfigName, **kwargs):
        self.configs[EndpointConfigName] = kwargs


def test_the_async_endpoint_config_has_its_own_name_and_the_model_on_its_variant():
    sm = FakeSageMaker()
    name = base_endpoint.ensure_endpoint_config(sm, SETTINGS, "p-i-base-3", 3)
    assert name == "p-i-async3" != base_model_name("p-i", 3)  # on-demand's config is named after the model
    config = sm.configs[name]
    assert config["AsyncInferenceConfig"]["OutputConfig"]["NotificationConfig"]["ErrorTopic"] == "arn:aws:sns:r:1:err"
    [variant] = config["ProductionVariants"]
    assert variant["ModelName"] == "p-i-base-3" and "ManagedInstanceScaling" not in variant
    on_demand = base_endpoint.ensure_endpoint_config(sm, settings(serving_mode="on-demand"), "p-i-base-3", 3)
    assert on_demand == "p-i-base-3" and "AsyncInferenceConfig" not in sm.configs[on_demand]


def test_the_container_of_an_async_endpoint_serves_the_live_manifest():
    env = base_endpoint.container_environment(SETTINGS, "tiny-llama")
    assert env["LORAPLANE_ADAPTER_MANIFEST"] == "s3://b/live/manifest.json"


def test_a_project_owns_its_async_configs_only():
    assert owned_by("ml-p-aaa", async_config("ml-p-aaa", 7))
    for neighbour in ("ml-p-aaa-async", "ml-p-aaa-x", "ml-p-aaa-async1"):
        assert not owned_by("ml-p-aaa", async_config(neighbour, 7))
    assert not owned_by("ml-p-aaa", "ml-p-aaa-async7-old") and not owned_by("ml-p-aaa", "ml-p-aaa-asyncx")


def test_a_request_names_its_adapter_as_on_demand():
    assert invoke_args("async", "e", "bot") == {"EndpointName": "e", "CustomAttributes": "adapter=bot"}
    assert invoke_args("async", "e", None) == {"EndpointName": "e"}


# -- auto scaling ------------------------------------------------------------------------------------
@pytest.mark.parametrize("update, expected", [
    ({"scale_to_zero": True, "instance_count": 1, "max_instance_count": 1}, (0, 1, True)),
    ({"scale_to_zero": True, "instance_count": 2, "max_instance_count": 4}, (0, 4, True)),
    ({"instance_count": 1, "max_instance_count": 3}, (1, 3, False)),
    ({"instance_count": 2, "max_instance_count": 2}, None),  # fixed: nothing to scale
])
def test_the_variant_scales_on_its_queue(update, expected):
    p = scaling.plan(settings(**update))
    assert (p and (p.min, p.max, p.from_zero is not None)) == expected
    if p:
        assert (p.resource, p.dimension) == ("endpoint/p-i-endpoint/variant/AllTraffic",
                                             "sagemaker:variant:DesiredInstanceCount")
        assert scaling.target_tracking(p) == {
            "TargetValue": 5.0, "ScaleInCooldown": 600, "ScaleOutCooldown": 300,
            "CustomizedMetricSpecification": {"MetricName": "ApproximateBacklogSizePerInstance",
                                              "Namespace": "AWS/SageMaker", "Statistic": "Average",
                                              "Dimensions": [{"Name": "EndpointName", "Value": "p-i-endpoint"}]}}


def test_from_zero_an_alarm_on_the_backlog_without_capacity_adds_an_instance():
    s = settings(scale_to_zero=True, max_instance_count=2)
    autoscaling, cloudwatch = Recorder(policy_arns), Recorder(policy_arns)
    result = scaling.ensure_scaling(autoscaling, cloudwatch, s, adapters=("bot",))  # no alarm per adapter
    register, tracking, step = autoscaling.calls
    assert register[1]["MinCapacity"] == 0 and tracking[1]["PolicyName"] == "p-i-backlog"
    assert step[1]["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Average", "Cooldown": 300,
        "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}
    [(_, alarm)] = cloudwatch.calls
    assert (alarm["AlarmName"], alarm["MetricName"], alarm["Dimensions"]) == (
        "p-i-scale-from-zero", "HasBacklogWithoutCapacity", [{"Name": "EndpointName", "Value": "p-i-endpoint"}])
    assert (alarm["Statistic"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["Threshold"],
            alarm["Period"]) == ("Average", 2, 2, 1.0, 60)
    assert alarm["AlarmActions"] == ["arn:policy/p-i-scale-from-zero"] and result.alarm == "p-i-scale-from-zero"


def endpoint(status="InService", desired=1, current=1) -> dict:
    return {"EndpointStatus": status, "EndpointConfigName": "p-i-async3",
            "ProductionVariants": [{"VariantName": "AllTraffic", "DesiredInstanceCount": desired,
                                    "CurrentInstanceCount": current}]}


@pytest.mark.parametrize("described, wake, capacity", [
    (None, False, False),
    (endpoint(), False, True),
    (endpoint(desired=0, current=0), True, False),
    (endpoint("Updating", desired=1, current=0), False, False),
    (endpoint(desired=0, current=1), True, True),  # scaling in: the last instance still answers
    ({"EndpointStatus": "InService"}, False, True),
])
def test_the_wake_decision_of_an_async_endpoint(described, wake, capacity):
    assert (scaling.variant_needs_wake(described), scaling.variant_has_capacity(described)) == (wake, capacity)


class FakeEndpoint:
    def __init__(self, instances: int):
        self.instances, self.status, self.updates = instances, "InService", []

    def describe_endpoint(self, EndpointName):
        return endpoint(self.status, self.instances, self.instances if self.status == "InService" else 0)

    def update_endpoint_weights_and_capacities(self, EndpointName, DesiredWeightsAndCapacities):
        self.updates.append(DesiredWeightsAndCapacities)
        self.instances, self.status = DesiredWeightsAndCapacities[0]["DesiredInstanceCount"], "Updating"


def test_a_deployment_wakes_an_async_endpoint_at_zero_and_waits_for_its_instance():
    sm, s = FakeEndpoint(instances=0), settings(scale_to_zero=True)
    assert scaling.ensure_capacity(sm, s) is False
    assert sm.updates == [[{"VariantName": "AllTraffic", "DesiredInstanceCount": 1}]]
    assert scaling.ensure_capacity(sm, s) is False and len(sm.updates) == 1  # on its way: not asked again
    sm.status = "InService"
    assert scaling.ensure_capacity(sm, s) is True
    assert scaling.ensure_capacity(None, settings(scale_to_zero=False)) is True  # reads nothing


# -- one request's round trip ------------------------------------------------------------------------
class FakeS3:
    class exceptions:
        class NoSuchKey(Exception):
            pass

    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def get_object(self, Bucket, Key):
        if f"s3://{Bucket}/{Key}" not in self.objects:
            raise self.exceptions.NoSuchKey(Key)
        return {"Body": io.BytesIO(self.objects[f"s3://{Bucket}/{Key}"])}


REQUEST = async_inference.Submitted("id-1", "s3://b/async/inputs/x.json", "s3://b/async/outputs/x.out",
                                    "s3://b/async/failures/x-error.out")


def test_waiting_returns_the_output_raises_the_failure_and_gives_up_at_the_deadline():
    import time

    assert async_inference.wait(FakeS3({REQUEST.output_location: b"[1]"}), REQUEST, time.time() + 5) == b"[1]"
    with pytest.raises(async_inference.AsyncRequestFailed, match="adapter 'x' not found"):
        async_inference.wait(FakeS3({REQUEST.failure_location: b"adapter 'x' not found"}), REQUEST, time.time() + 5)
    with pytest.raises(TimeoutError):
        async_inference.wait(FakeS3({}), REQUEST, time.time() + 0.2, poll_seconds=0.05)


@given(st.text(max_size=80))
def test_any_text_is_an_s3_uri_or_a_value_error(text):
    try:
        bucket, key = async_inference.split_s3_uri(text)
    except ValueError:
        return
    assert text.startswith("s3://") and bucket and key


# -- the smoke test's results have a folder of their own ---------------------------------------------------
class Sent:
    """A real sagemaker-runtime client whose requests are answered here (botocore's before-send), as
    SageMaker answers InvokeEndpointAsync: what was sent is kept."""

    def __init__(self, knows_extension: bool = True):
        import boto3
        from botocore.awsrequest import AWSResponse

        self.headers: list[dict] = []
        self.client = boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url="https://sm.invalid",
                                   aws_access_key_id="k", aws_secret_access_key="s")
        if not knows_extension:  # as a botocore from before S3OutputPathExtension (early 2026) reads the API
            del self.client.meta.service_model.operation_model("InvokeEndpointAsync").input_shape.members[
                "S3OutputPathExtension"]

        def answer(request, **_):
            self.headers.append(dict(request.headers))
            extension = request.headers.get(async_inference.EXTENSION_HEADER, b"")
            extension = extension.decode() if isinstance(extension, bytes) else extension
            output = "s3://b/async/outputs/" + (f"{extension}/" if extension else "") + "id.out"
            raw = type("Raw", (), {"stream": lambda self, **_: iter([b'{"InferenceId": "id"}'])})()
            return AWSResponse(request.url, 202, {"X-Amzn-SageMaker-OutputLocation": output}, raw)

        self.client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpointAsync", answer)


@pytest.mark.parametrize("knows_extension", [True, False])
def test_the_smoke_tests_results_go_under_their_own_folder(knows_extension):
    sent, s3 = Sent(knows_extension), Recorder()
    request = async_inference.submit(sent.client, s3, "b", "e", b"{}", input_prefix=async_inference.SMOKE_INPUTS,
                                     output_extension=async_inference.SMOKE_EXTENSION)
    [(_, put)] = s3.calls
    assert put["Key"].startswith("async/inputs/smoke/") and request.input_location == f"s3://b/{put['Key']}"
    assert request.output_location == "s3://b/async/outputs/smoke/id.out"
    extension = sent.headers[0][async_inference.EXTENSION_HEADER]
    assert (extension.decode() if isinstance(extension, bytes) else extension) == "smoke"
    async_inference.submit(sent.client, s3, "b", "e", b"{}")  # a user's request: no folder, no header left over
    assert async_inference.EXTENSION_HEADER not in sent.headers[1]
