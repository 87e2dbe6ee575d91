"""Service Quotas for SageMaker endpoint instances.

moto 5.2.5 knows Service Quotas defaults for `vpc` only and has no ListServiceQuotas or
RequestServiceQuotaIncrease. This adds, for service code `sagemaker`, one quota
"<instance type> for endpoint usage" per endpoint instance type of botocore's model:
ListAWSDefaultServiceQuotas (every default, value 0: request an increase before an endpoint can
start), ListServiceQuotas (applied values only: "if the applied quota value is not available for a
quota, the quota is not retrieved", https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html),
both paginated (MaxResults 1-100), and RequestServiceQuotaIncrease, approved at once
(https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_RequestServiceQuotaIncrease.html).
Other service codes answer as moto does. `reset()` forgets granted increases (tests)."""
import datetime
import functools
import hashlib
import json
import uuid

from . import aws_validation

SERVICE, SERVICE_NAME = "sagemaker", "Amazon SageMaker"
_applied: dict[tuple[str, str, str], float] = {}  # (account, region, quota code) -> value


def reset() -> None:
    _applied.clear()


def quota_code(instance_type: str) -> str:
    """Stable stand-in for AWS's opaque codes (L- and 8 hex digits)."""
    return "L-" + hashlib.sha256(instance_type.encode()).hexdigest()[:8].upper()


@functools.lru_cache(maxsize=1)
def instance_types() -> tuple[str, ...]:
    return tuple(aws_validation.service_model("sagemaker").shape_for("ProductionVariantInstanceType").enum)


def _quota(account: str, region: str, instance_type: str, value: float) -> dict:
    code = quota_code(instance_type)
    return {"ServiceCode": SERVICE, "ServiceName": SERVICE_NAME, "QuotaCode": code,
            "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:{SERVICE}/{code}",
            "QuotaName": f"{instance_type} for endpoint usage", "Value": value, "Unit": "None",
            "Adjustable": True, "GlobalQuota": False, "QuotaAppliedAtLevel": "ACCOUNT"}


def _error(code: str, message: str):
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _params(response, operation: str) -> dict:
    raw = response.body
    params = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw else {}
    found = aws_validation.problems("service-quotas", operation, params)
    if found:
        raise _error("ValidationException", aws_validation.message(found))
    return params


def _page(quotas: list[dict], params: dict) -> str:
    start = int(params.get("NextToken") or 0)
    size = params.get("MaxResults") or 100
    body = {"Quotas": quotas[start:start + size]}
    if start + size < len(quotas):
        body["NextToken"] = str(start + size)
    return json.dumps(body)


def install() -> None:
    from moto.servicequotas.responses import ServiceQuotasResponse

    moto_defaults = ServiceQuotasResponse.list_aws_default_service_quotas

    def list_aws_default_service_quotas(self):
        params = _params(self, "ListAWSDefaultServiceQuotas")
        if params["ServiceCode"] != SERVICE:
            return moto_defaults(self)
        return _page([_quota(self.current_account, self.region, t, 0.0) for t in instance_types()], params)

    def list_service_quotas(self):
        params = _params(self, "ListServiceQuotas")
        if params["ServiceCode"] != SERVICE:
            raise _error("NoSuchResourceException",
                         f"The request failed because the specified service {params['ServiceCode']} does not exist.")
        key = (self.current_account, self.region)
        applied = [_quota(*key, t, _applied[(*key, quota_code(t))]) for t in instance_types()
                   if (*key, quota_code(t)) in _applied]
        return _page([q for q in applied if params.get("QuotaCode") in (None, q["QuotaCode"])], params)

    def request_service_quota_increase(self):
        params = _params(self, "RequestServiceQuotaIncrease")
        key = (self.current_account, self.region)
        found = next((t for t in instance_types() if quota_code(t) == params["QuotaCode"]), None)
        if params["ServiceCode"] != SERVICE or found is None:
            raise _error("NoSuchResourceException",
                         f"The request failed because the specified quota {params['QuotaCode']} does not exist.")
        current = _applied.get((*key, params["QuotaCode"]), 0.0)
        if params["DesiredValue"] <= current:
            raise _error("IllegalArgumentException",
                         f"The desired value must be greater than the current value {current:g}.")
        _applied[(*key, params["QuotaCode"])] = float(params["DesiredValue"])
        now = datetime.datetime.now(datetime.UTC).timestamp()
        quota = _quota(*key, found, float(params["DesiredValue"]))
        return json.dumps({"RequestedQuota": {
            "Id": uuid.uuid4().hex, "CaseId": "", "ServiceCode": SERVICE, "ServiceName": SERVICE_NAME,
            "QuotaCode": quota["QuotaCode"], "QuotaName": quota["QuotaName"], "QuotaArn": quota["QuotaArn"],
            "DesiredValue": float(params["DesiredValue"]), "Status": "APPROVED", "Created": now, "LastUpdated": now,
            "Requester": f"arn:aws:iam::{self.current_account}:root", "GlobalQuota": False, "Unit": "None",
            "QuotaRequestedAtLevel": "ACCOUNT"}})

    ServiceQuotasResponse.list_aws_default_service_quotas = list_aws_default_service_quotas
    ServiceQuotasResponse.list_service_quotas = list_service_quotas
    ServiceQuotasResponse.request_service_quota_increase = request_service_quota_increase
