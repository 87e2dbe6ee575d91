"""Removes what the control plane created at run time on the endpoint, so that deleting the stack
leaves no GPU instance running: the scaling targets and their policies (the variant's, the base
component's) and the scale-from-zero alarms (the base component's, one per adapter component),
adapter inference components, then base components, the endpoint, then the project's endpoint
configs and models.

CloudFormation does not know these resources (the Lambdas create them), so the stack's
`EndpointCleanup` custom resource and `loraplane project delete` call `teardown` before the stack
goes. It first takes the endpoint lock and never gives it back: a deployment that starts later
waits for the lock instead of recreating the endpoint. The live/ prefix and its manifest stay in
the retained adapter bucket. Every wait is bounded by `deadline`; when time runs out,
`TeardownIncomplete` says what is still there, and running teardown again carries on.
"""
import time

from botocore.exceptions import ClientError

from loraplane_core.deployment import endpoint_lock, scaling
from loraplane_core.endpoint_names import base_component, owned_by
from loraplane_core.sagemaker_gateway import delete, describe

LOCK_OWNER = "teardown"


class TeardownIncomplete(Exception):
    """Time ran out (or the lock stayed taken) before everything was gone."""


def _wait(what: str, still_there, deadline: float, poll: float) -> None:
    while still_there():
        if time.time() > deadline:
            raise TeardownIncomplete(f"{what} still being deleted; delete the stack again to carry on")
        time.sleep(poll)


class Teardown:
    def __init__(self, sm, autoscaling, table, endpoint: str, prefix: str, deadline: float, poll: float = 5.0,
                 cloudwatch=None):
        self.sm, self.autoscaling, self.table, self.cloudwatch = sm, autoscaling, table, cloudwatch
        self.endpoint, self.prefix, self.deadline, self.poll = endpoint, prefix, deadline, poll
        self.deleted: dict[str, list[str]] = {"inference_components": [], "scaling_targets": [], "alarms": [],
                                               "endpoints": [], "endpoint_configs": [], "models": []}

    def run(self) -> dict:
        self.lock()
        components = self.components()
        adapters = [c for c, base in components.items() if base]
        # Scaling first: nothing may add a copy (or an instance) to what is being deleted.
        self.delete_alarms(adapters)
        self.delete_scaling(scaling.variant_resource(self.endpoint))
        self.delete_scaling(scaling.component_resource(base_component(self.prefix)))
        self.delete_components(adapters)
        self.delete_components([c for c, base in components.items() if not base])
        self.delete_endpoint()
        self.delete_listed("endpoint_configs", "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName",
                           lambda n: delete(self.sm.delete_endpoint_config, EndpointConfigName=n))
        self.delete_listed("models", "list_models", "Models", "ModelName",
                           lambda n: delete(self.sm.delete_model, ModelName=n))
        return self.deleted

    def lock(self) -> None:
        """Wait for a deployment in flight to finish, then keep everyone else off the endpoint."""
        if self.table is None:
            return
        _wait(f"lock of {self.endpoint} (a deployment is running)",
              lambda: not endpoint_lock.acquire(self.table, self.endpoint, LOCK_OWNER), self.deadline, self.poll)

    def components(self) -> dict[str, str | None]:
        """component name -> its base component (None for a base component) of this endpoint."""
        found, kwargs = {}, {"EndpointNameEquals": self.endpoint}
        while True:
            page = self.sm.list_inference_components(**kwargs)
            for ic in page.get("InferenceComponents", []):
                name = ic["InferenceComponentName"]
                described = describe(self.sm.describe_inference_component, InferenceComponentName=name)
                if described is not None:
                    found[name] = described["Specification"].get("BaseInferenceComponentName")
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]

    def component_exists(self, name: str) -> bool:
        return describe(self.sm.describe_inference_component, InferenceComponentName=name) is not None

    def delete_components(self, names: list[str]) -> None:
        for name in names:
            delete(self.sm.delete_inference_component, InferenceComponentName=name)
            self.deleted["inference_components"].append(name)
        # Base components refuse deletion while adapters sit on them: wait for each batch.
        _wait(f"inference components {names}", lambda: any(self.component_exists(n) for n in names),
              self.deadline, self.poll)

    def delete_alarms(self, adapter_components: list[str]) -> None:
        """The scale-from-zero alarms, the base component's and those of `adapter_components`, and any other
        under the same name prefix (an adapter's alarm whose component went first): deleting their step
        policy leaves them (AWS deletes only target tracking alarms with their policy)."""
        if self.cloudwatch is None:
            return
        names = [scaling.from_zero_name(self.prefix),
                 *[scaling.adapter_alarm_name(self.prefix, c) for c in adapter_components]]
        prefix = f"{scaling.from_zero_name(self.prefix)}-"
        try:  # a list call by prefix: where IAM grants DescribeAlarms by alarm name only, the names above do
            names += [n for n in scaling.alarm_names_with_prefix(self.cloudwatch, prefix) if n not in names]
        except ClientError:
            pass
        self.deleted["alarms"] += scaling.delete_alarms(self.cloudwatch, names)

    def delete_scaling(self, resource: str) -> None:
        targets = self.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])
        for target in targets.get("ScalableTargets", []):
            policies = self.autoscaling.describe_scaling_policies(
                ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=target["ScalableDimension"])
            for policy in policies.get("ScalingPolicies", []):
                self.autoscaling.delete_scaling_policy(
                    PolicyName=policy["PolicyName"], ServiceNamespace="sagemaker", ResourceId=resource,
                    ScalableDimension=target["ScalableDimension"])
            self.autoscaling.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                                        ScalableDimension=target["ScalableDimension"])
            self.deleted["scaling_targets"].append(f"{resource}:{target['ScalableDimension']}")

    def endpoint_exists(self) -> bool:
        return describe(self.sm.describe_endpoint, EndpointName=self.endpoint) is not None

    def delete_endpoint(self) -> None:
        if not self.endpoint_exists():
            return
        delete(self.sm.delete_endpoint, EndpointName=self.endpoint)
        self.deleted["endpoints"].append(self.endpoint)
        _wait(f"endpoint {self.endpoint}", self.endpoint_exists, self.deadline, self.poll)

    def delete_listed(self, kind: str, list_call: str, key: str, name_key: str, remove) -> None:
        kwargs = {"NameContains": self.prefix}
        while True:
            page = getattr(self.sm, list_call)(**kwargs)
            for item in page.get(key, []):
                if owned_by(self.prefix, item[name_key]):
                    remove(item[name_key])
                    self.deleted[kind].append(item[name_key])
            if not page.get("NextToken"):
                return
            kwargs["NextToken"] = page["NextToken"]


def teardown(sm, autoscaling, table, endpoint: str, prefix: str, deadline: float, poll: float = 5.0,
             cloudwatch=None) -> dict:
    """What was deleted, by kind. Raises TeardownIncomplete when `deadline` (epoch seconds) passes first.
    Without `cloudwatch` the scale-from-zero alarms stay."""
    return Teardown(sm, autoscaling, table, endpoint, prefix, deadline, poll, cloudwatch).run()
