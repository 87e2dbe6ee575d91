"""The endpoint's auto scaling, decided from the settings alone (no moto): what is registered in each
serving mode, with and without ScaleToZero, and that applying it is the same calls every time."""
import pytest

from loraplane_core import endpoint_names as names
from loraplane_core.deployment import base_endpoint, scaling
from loraplane_core.settings import Settings
from tests.unit.recorder import Recorder, policy_arns

SETTINGS = Settings(project_name="p", project_id="i", adapter_bucket="b", catalog_table="catalog",
                    idempotency_table="x", topic_arn="t", adapter_group="g", base_group="bg", serving_image_uri="img",
                    endpoint_name="p-i-endpoint", execution_role_arn="arn:aws:iam::1:role/endpoint")


def settings(**update) -> Settings:
    return SETTINGS.model_copy(update=update)


@pytest.mark.parametrize("update, expected", [
    ({"serving_mode": "on-demand", "instance_count": 1, "max_instance_count": 1}, None),
    ({"serving_mode": "on-demand", "instance_count": 1, "max_instance_count": 1, "scale_to_zero": True}, None),
    ({"serving_mode": "on-demand", "instance_count": 1, "max_instance_count": 3},
     ("endpoint/p-i-endpoint/variant/AllTraffic", "sagemaker:variant:DesiredInstanceCount", 1, 3, False)),
    ({"serving_mode": "on-demand", "instance_count": 2, "max_instance_count": 3, "scale_to_zero": True},
     ("endpoint/p-i-endpoint/variant/AllTraffic", "sagemaker:variant:DesiredInstanceCount", 2, 3, False)),
    ({"instance_count": 1, "max_instance_count": 1}, None),  # one copy, fixed, as created
    ({"instance_count": 1, "max_instance_count": 4},
     ("inference-component/p-i-base", "sagemaker:inference-component:DesiredCopyCount", 1, 4, False)),
    ({"instance_count": 3, "max_instance_count": 2},
     ("inference-component/p-i-base", "sagemaker:inference-component:DesiredCopyCount", 1, 3, False)),
    ({"instance_count": 1, "max_instance_count": 1, "scale_to_zero": True},
     ("inference-component/p-i-base", "sagemaker:inference-component:DesiredCopyCount", 0, 1, True)),
    ({"instance_count": 2, "max_instance_count": 5, "scale_to_zero": True},
     ("inference-component/p-i-base", "sagemaker:inference-component:DesiredCopyCount", 0, 5, True)),
])
def test_the_plan_follows_the_settings(update, expected):
    p = scaling.plan(settings(**update))
    assert (p and (p.resource, p.dimension, p.min, p.max, p.from_zero is not None)) == expected


def test_each_mode_tracks_its_own_predefined_metric():
    on_demand = scaling.plan(settings(serving_mode="on-demand", max_instance_count=2))
    components = scaling.plan(settings(max_instance_count=2))
    assert scaling.target_tracking(on_demand)["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    assert scaling.target_tracking(components)["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}


def test_the_alarm_wakes_the_base_component_on_its_first_refused_request():
    s = settings(scale_to_zero=True)
    z = scaling.plan(s).from_zero
    a = scaling.alarm(z, "arn:policy", s)
    assert a["AlarmName"] == "p-i-scale-from-zero" and a["AlarmActions"] == ["arn:policy"]
    assert (a["Namespace"], a["MetricName"], a["Dimensions"]) == (
        "AWS/SageMaker", "NoCapacityInvocationFailures", [{"Name": "InferenceComponentName", "Value": "p-i-base"}])
    # NoCapacityInvocationFailures is published per minute: summed over 60 s, as in AWS's example
    assert (a["Statistic"], a["ComparisonOperator"], a["Threshold"]) == ("Sum", "GreaterThanOrEqualToThreshold", 1)
    assert a["Period"] == 60 and {"Key": "sagemaker:project-id", "Value": "i"} in a["Tags"]
    step = scaling.step_out()
    assert step["AdjustmentType"] == "ChangeInCapacity" and step["MetricAggregationType"] == "Maximum"
    assert step["StepAdjustments"] == [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]


def test_ensure_scaling_makes_the_same_calls_every_time():
    s = settings(scale_to_zero=True, max_instance_count=2)
    autoscaling, cloudwatch = Recorder(policy_arns), Recorder(policy_arns)
    first = scaling.ensure_scaling(autoscaling, cloudwatch, s)
    calls = (list(autoscaling.calls), list(cloudwatch.calls))
    assert scaling.ensure_scaling(autoscaling, cloudwatch, s) == first
    assert (autoscaling.calls, cloudwatch.calls) == (calls[0] * 2, calls[1] * 2)  # upserts only
    assert [op for op, _ in calls[0]] == ["register_scalable_target", "put_scaling_policy", "put_scaling_policy"]
    assert [k["PolicyType"] for op, k in calls[0][1:]] == ["TargetTrackingScaling", "StepScaling"]
    assert calls[1] == [("put_metric_alarm", scaling.alarm(scaling.plan(s).from_zero,
                                                           "arn:policy/p-i-scale-from-zero", s))]
    assert (first.min, first.max, first.alarm) == (0, 2, "p-i-scale-from-zero")


def test_without_scale_to_zero_no_alarm_is_made():
    autoscaling, cloudwatch = Recorder(policy_arns), Recorder(policy_arns)
    result = scaling.ensure_scaling(autoscaling, cloudwatch, settings(max_instance_count=2))
    assert cloudwatch.calls == [] and result.alarm is None and result.policies == ["p-i-invocations"]
    assert scaling.ensure_scaling(Recorder(policy_arns), cloudwatch, settings(max_instance_count=1)) is None


class FakeSageMaker:
    def __init__(self):
        self.configs = {}

    def describe_endpoint_config(self, EndpointConfigName):
        if EndpointConfigName not in self.configs:
            from botocore.exceptions import ClientError
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Could not find endpoint"}}, "x")
        return self.configs[EndpointConfigName]

    def create_endpoint_config(self, EndpointConfigName, **kwargs):
        self.configs[EndpointConfigName] = kwargs


@pytest.mark.parametrize("scale_to_zero, least", [(False, 2), (True, 0)])
def test_the_endpoint_config_may_release_every_instance_only_with_scale_to_zero(scale_to_zero, least):
    sm = FakeSageMaker()
    name = base_endpoint.ensure_endpoint_config(sm, settings(instance_count=2, max_instance_count=3,
                                                             scale_to_zero=scale_to_zero), None)
    [variant] = sm.configs[name]["ProductionVariants"]
    assert variant["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": least, "MaxInstanceCount": 3}


def test_an_endpoint_config_made_before_scale_to_zero_keeps_one_copy():
    """Copies at 0 on instances that stay would refuse every request and still cost: not planned."""
    s = settings(scale_to_zero=True, instance_count=1, max_instance_count=2)
    assert (scaling.plan(s, min_instances=0).min, scaling.plan(s, min_instances=None).min) == (0, 0)
    kept = scaling.plan(s, min_instances=1)
    assert (kept.min, kept.max, kept.from_zero) == (1, 2, None)


def test_each_live_adapter_gets_an_alarm_that_wakes_the_base_component():
    """Requests for an adapter at zero may count on the adapter component's metric only."""
    s = settings(scale_to_zero=True, max_instance_count=2)
    autoscaling, cloudwatch = Recorder(policy_arns), Recorder(policy_arns)
    scaling.ensure_scaling(autoscaling, cloudwatch, s, adapters=("bot",))
    [(_, base), (_, bot)] = cloudwatch.calls
    component = names.adapter_component("p-i-endpoint", "bot")
    assert bot["AlarmName"] == f"p-i-scale-from-zero-{component}" == scaling.adapter_alarm_name("p-i", component)
    assert bot["Dimensions"] == [{"Name": "InferenceComponentName", "Value": component}]
    assert bot["AlarmActions"] == base["AlarmActions"] == ["arn:policy/p-i-scale-from-zero"]
    longest = scaling.adapter_alarm_name("p" * 32 + "-" + "i" * 20, names.adapter_component("e", "a" * 30))
    assert len(longest) <= 255


def component(status="InService", desired=1, current=1) -> dict:
    return {"InferenceComponentStatus": status,
            "RuntimeConfig": {"DesiredCopyCount": desired, "CurrentCopyCount": current}}


@pytest.mark.parametrize("described, wake, capacity", [
    (None, False, False),
    (component(), False, True),
    (component(desired=0, current=0), True, False),  # scaled to zero, nothing asked for a copy
    (component(desired=1, current=0), False, False),  # a copy is on its way: asking again does nothing
    (component("Updating", desired=1, current=0), False, False),  # being changed: a request would be refused
    (component("Updating", desired=2, current=1), False, False),  # serves, but not yet what the check waits for
    (component(desired=0, current=1), True, True),  # scaling in: the last copy still answers
    ({"InferenceComponentStatus": "InService"}, False, True),  # no RuntimeConfig: counts as its one copy
])
def test_the_wake_decision(described, wake, capacity):
    assert (scaling.needs_wake(described), scaling.has_capacity(described)) == (wake, capacity)


class FakeComponents:
    """describe_inference_component / update_inference_component_runtime_config on one base component."""
    def __init__(self, copies: int):
        self.copies, self.status, self.updates = copies, "InService", []

    def describe_inference_component(self, InferenceComponentName):
        return component(self.status, self.copies, self.copies if self.status == "InService" else 0)

    def update_inference_component_runtime_config(self, InferenceComponentName, DesiredRuntimeConfig):
        self.updates.append((InferenceComponentName, DesiredRuntimeConfig))
        self.copies, self.status = DesiredRuntimeConfig["CopyCount"], "Updating"


def test_ensure_capacity_asks_for_one_copy_once_and_waits_for_it():
    sm, s = FakeComponents(copies=0), settings(scale_to_zero=True)
    assert scaling.ensure_capacity(sm, s) is False and sm.updates == [("p-i-base", {"CopyCount": 1})]
    assert scaling.ensure_capacity(sm, s) is False and len(sm.updates) == 1  # on its way: not asked again
    sm.status = "InService"
    assert scaling.ensure_capacity(sm, s) is True and len(sm.updates) == 1


@pytest.mark.parametrize("update", [{"scale_to_zero": False}, {"scale_to_zero": True, "serving_mode": "on-demand"}])
def test_ensure_capacity_reads_nothing_without_scale_to_zero(update):
    assert scaling.ensure_capacity(None, settings(**update)) is True  # None: any call would fail


class FakeEndpoint(FakeComponents):
    """An inference-component endpoint in service whose base component serves model m-2."""
    def describe_endpoint(self, EndpointName):
        return {"EndpointStatus": "InService", "EndpointConfigName": "p-i-ic-config"}

    def describe_inference_component(self, InferenceComponentName):
        return {**super().describe_inference_component(InferenceComponentName), "Specification": {"ModelName": "m-2"}}


@pytest.mark.parametrize("scale_to_zero, restored, done", [
    (True, None, False),  # the smoke test next needs a copy: CheckBase wakes it and waits
    (True, 1, True),  # a rollback is not smoke-tested: it may stay at zero
    (False, None, True),  # without ScaleToZero the check reads what it read before
])
def test_the_base_check_at_zero_copies(scale_to_zero, restored, done):
    from loraplane_core.deployment.payloads import BaseDeployment
    dep = BaseDeployment(kind="update", model_name="m-2", deadline=2**40, restored=restored)
    checked = base_endpoint.check(FakeEndpoint(copies=0), settings(scale_to_zero=scale_to_zero), dep)
    assert checked.done is done and (done or checked.status == scaling.NO_CAPACITY)
    assert base_endpoint.check(FakeEndpoint(copies=1), settings(scale_to_zero=scale_to_zero), dep).done is True
