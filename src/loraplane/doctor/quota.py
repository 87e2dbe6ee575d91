"""Check 2: the SageMaker service quota for the endpoint's instance type ("<type> for endpoint usage").

ListServiceQuotas returns applied values only ("if the applied quota value is not available for a
quota, the quota is not retrieved",
https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html), so a
quota never changed is looked up among the defaults (ListAWSDefaultServiceQuotas)."""
from .result import Check, StackFacts, error_code, fail, is_access_denied, ok, warn

NAME = "endpoint quota"
SERVICE = "sagemaker"


def quota_name(instance_type: str) -> str:
    return f"{instance_type} for endpoint usage"


def instances_needed(serving_mode: str, instance_count: int, max_instance_count: int) -> int:
    """Instances the endpoint may hold at once: inference-components mode scales up to
    MaxInstanceCount (managed instance scaling); on-demand and async update blue/green, all at once, so
    an update runs a second fleet of InstanceCount beside the first."""
    if serving_mode in ("on-demand", "async"):
        return 2 * instance_count
    return max(instance_count, max_instance_count)


def decide(value: float | None, needed: int, instance_type: str, quota_code: str | None, region: str) -> Check:
    """ok when the quota covers what the stack needs; otherwise the increase request to make."""
    name = quota_name(instance_type)
    if value is None:
        return warn(NAME, f"no quota named {name!r} in {region}",
                    f"check that {instance_type} is offered for SageMaker endpoints in {region}, "
                    "or choose another InstanceType")
    request = (f"request an increase: aws service-quotas request-service-quota-increase --service-code {SERVICE} "
               f"--quota-code {quota_code} --desired-value {needed} --region {region}")
    if value <= 0:
        return fail(NAME, f"{name} is 0: no endpoint can start", request)
    if value < needed:
        return fail(NAME, f"{name} is {value:g}, the stack may need {needed}", request)
    return ok(NAME, f"{name} is {value:g} (the stack needs at most {needed})")


def find(client, name: str) -> dict | None:
    """The quota by name: its applied value if there is one, else its default."""
    for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
        for page in client.get_paginator(operation).paginate(ServiceCode=SERVICE):
            for quota in page.get("Quotas", []):
                if quota.get("QuotaName") == name:
                    return quota
    return None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def check(facts: StackFacts) -> Check:
    p = facts.params
    instance_type = p.get("InstanceType") or "ml.g5.2xlarge"
    count = _int(p.get("InstanceCount"), 1)
    mode = p.get("ServingMode", "inference-components")
    needed = instances_needed(mode, count, _int(p.get("MaxInstanceCount"), count))
    try:
        quota = find(facts.client("service-quotas"), quota_name(instance_type))
    except Exception as exc:
        if is_access_denied(exc):
            return warn(NAME, f"cannot read service quotas ({error_code(exc)})",
                        "allow servicequotas:ListServiceQuotas and ListAWSDefaultServiceQuotas to your identity")
        raise
    return decide(None if quota is None else quota.get("Value"), needed, instance_type,
                  None if quota is None else quota.get("QuotaCode"), facts.region)
