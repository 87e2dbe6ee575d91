"""Lambda-backed custom resources (`Custom::*`) as CloudFormation runs them, on create and delete.

moto invokes the function on create only, with a ResponseURL on `host.docker.internal` (unreachable
without Docker); it records SUCCESS answers only (a FAILED create leaves the stack in progress), and
DeleteStack neither calls the function nor waits for it. Here:
- the ResponseURL points at this emulator;
- answers are kept per request, and a FAILED create fails the stack (CREATE_FAILED, with the reason);
- DeleteStack is asynchronous, as AWS's: DELETE_IN_PROGRESS, then each custom resource gets its
  Delete request first (nothing in the stack may depend on it), the answer is awaited (bounded by
  the function's timeout), then moto deletes the rest. A FAILED answer, or none, leaves the stack
  DELETE_FAILED with the reason, resources untouched; deleting it again retries.
"""
import json
import logging
import threading
import time
import uuid

_answers: dict[str, dict] = {}  # RequestId -> the body the function PUT to its ResponseURL
_endpoint = {"url": "http://127.0.0.1:4566"}
_lock = threading.Lock()


def response_url(region: str, stack_id: str) -> str:
    return f"{_endpoint['url']}/cloudformation_{region}/cfnresponse?stack={stack_id}"


def _invoke(account: str, region: str, event: dict) -> None:
    from moto.awslambda.utils import get_backend as get_lambda_backend

    fn = get_lambda_backend(account, region).get_function(event["ServiceToken"])
    fn.invoke(json.dumps(event), {}, {})


def _await_answer(request_id: str, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _lock:
            if request_id in _answers:
                return _answers.pop(request_id)
        time.sleep(0.2)
    return None


def _timeout_of(account: str, region: str, service_token: str) -> float:
    from moto.awslambda.utils import get_backend as get_lambda_backend

    return float(get_lambda_backend(account, region).get_function(service_token).timeout or 3) + 5


def delete_custom_resources(stack, account: str, region: str) -> str | None:
    """Sends Delete to every custom resource of the stack; the first failure's reason, or None."""
    from moto.cloudformation.parsing import clean_json

    for logical_id, resource in list(stack.custom_resources.items()):
        definition = stack.template_dict["Resources"][logical_id]
        properties = clean_json(definition.get("Properties", {}), stack.resource_map)
        request_id = str(uuid.uuid4())
        event = {"RequestType": "Delete", "ServiceToken": properties["ServiceToken"],
                 "ResponseURL": response_url(region, stack.stack_id), "StackId": stack.stack_id,
                 "RequestId": request_id, "LogicalResourceId": logical_id, "ResourceType": definition["Type"],
                 "PhysicalResourceId": resource.physical_resource_id, "ResourceProperties": properties}
        try:
            _invoke(account, region, event)
        except Exception as e:  # noqa: BLE001 - as AWS: the resource fails to delete
            return f"{logical_id}: invoking {properties['ServiceToken']} failed: {e}"
        answer = _await_answer(request_id, _timeout_of(account, region, properties["ServiceToken"]))
        if answer is None:
            return f"{logical_id}: no answer from the custom resource's function in time"
        if answer.get("Status") != "SUCCESS":
            return f"{logical_id}: {answer.get('Reason', 'FAILED')}"
        stack.custom_resources.pop(logical_id, None)
    return None


def install(endpoint_url: str) -> None:
    from moto.cloudformation.custom_model import CustomModel
    from moto.cloudformation.models import CloudFormationBackend
    from moto.cloudformation.responses import CloudFormationResponse
    from moto import settings

    _endpoint["url"] = endpoint_url
    original_create = CustomModel.create_from_cloudformation_json.__func__
    original_delete_stack = CloudFormationBackend.delete_stack

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        # moto builds the ResponseURL from settings.moto_server_host() (Docker's host name): point it here.
        saved = settings.moto_server_host
        settings.moto_server_host = lambda: endpoint_url.rsplit(":", 1)[0]
        try:
            return original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        finally:
            settings.moto_server_host = saved

    def process_cfn_response(self):
        answer = json.loads(self.body or "{}")
        with _lock:
            _answers[answer.get("RequestId", "")] = answer
        stack = self.cloudformation_backend.get_stack(answer["StackId"])
        if stack.status != "CREATE_IN_PROGRESS":
            return 200, {"status": 200}, "{}"
        custom = stack.custom_resources.get(answer.get("LogicalResourceId"))
        if custom is None or custom.request_id != answer.get("RequestId"):
            return 200, {"status": 200}, "{}"
        if answer.get("Status") == "SUCCESS":
            custom.set_data(answer.get("Data") or {})
            stack.verify_readiness()
        else:
            stack.status = "CREATE_FAILED"
            stack._add_stack_event("CREATE_FAILED", resource_status_reason=answer.get("Reason", "FAILED"))
        return 200, {"status": 200}, "{}"

    def delete_stack(self, name_or_stack_id: str) -> None:
        stack = next((s for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)), None)
        if stack is None or not stack.custom_resources:
            return original_delete_stack(self, name_or_stack_id)
        stack.status = "DELETE_IN_PROGRESS"
        stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")

        def run() -> None:
            reason = delete_custom_resources(stack, self.account_id, self.region_name)
            if reason:
                stack.status = "DELETE_FAILED"
                stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
                return
            try:
                original_delete_stack(self, stack.stack_id)
            except Exception as e:  # noqa: BLE001 - a resource moto could not delete: the stack stays, as on AWS
                logging.getLogger(__name__).exception("moto could not delete stack %s", stack.name)
                self.stacks[stack.stack_id] = stack
                self.deleted_stacks.pop(stack.stack_id, None)
                stack.status = "DELETE_FAILED"
                stack._add_stack_event("DELETE_FAILED", resource_status_reason=f"{type(e).__name__}: {e}")

        threading.Thread(target=run, name=f"delete-{stack.name}", daemon=True).start()

    CustomModel.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    CloudFormationResponse.process_cfn_response = process_cfn_response
    CloudFormationBackend.delete_stack = delete_stack
