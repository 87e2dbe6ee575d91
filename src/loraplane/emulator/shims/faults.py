"""Fault injection, for tests: chosen AWS calls answer with an error, chosen Lambdas crash or time
out, as they can on AWS (throttling, a 5xx, AccessDenied; a runtime that exits; a timeout).

    from loraplane.emulator.shims import faults
    faults.fail_call("sagemaker", "DescribeModelPackage", "ThrottlingException", times=2)
    faults.fail_lambda("-deploy-adapter", "crash")
    faults.fail_build("-serving-image", phase="BUILD")
    ...
    faults.clear()

A call fault answers the matching request with the error, serialized as the service's protocol
does (botocore parses it as it would AWS's); services whose requests pass moto's
`BaseResponse.call_action` (SageMaker, DynamoDB, SNS, SQS, Step Functions, EventBridge, Lambda's
API...) - not S3. A Lambda fault answers the invocation as the runtime does: `Runtime.ExitError` for
a crash, `Sandbox.Timedout` for a timeout, without running the handler. A build fault makes the next
CodeBuild build of a project fail in the given phase (the emulator's builds otherwise succeed: see
codebuild.py). Each fault fails `times` matching calls (-1: until cleared) and counts them in `failed`."""
import threading
from dataclasses import dataclass
from typing import Literal


@dataclass
class CallFault:
    service: str  # boto3's name: "sagemaker", "dynamodb", "sns"...
    action: str  # the API action: "DescribeModelPackage"
    code: str = "ThrottlingException"
    status: int = 400
    times: int = 1
    failed: int = 0


@dataclass
class LambdaFault:
    function: str  # a suffix of the function name
    kind: Literal["crash", "timeout"] = "crash"
    times: int = 1
    failed: int = 0


@dataclass
class BuildFault:
    project: str  # a suffix of the CodeBuild project's name
    phase: str = "BUILD"
    message: str = "Error while executing command: docker build. Reason: exit status 1 (injected)"
    times: int = 1
    failed: int = 0


_lock = threading.Lock()
_calls: list[CallFault] = []
_lambdas: list[LambdaFault] = []
_builds: list[BuildFault] = []


def fail_call(service: str, action: str, code: str = "ThrottlingException", status: int = 400,
              times: int = 1) -> CallFault:
    fault = CallFault(service, action, code, status, times)
    with _lock:
        _calls.append(fault)
    return fault


def fail_lambda(function_suffix: str, kind: Literal["crash", "timeout"] = "crash", times: int = 1) -> LambdaFault:
    fault = LambdaFault(function_suffix, kind, times)
    with _lock:
        _lambdas.append(fault)
    return fault


def fail_build(project_suffix: str, phase: str = "BUILD", message: str = BuildFault.message,
               times: int = 1) -> BuildFault:
    fault = BuildFault(project_suffix, phase, message, times)
    with _lock:
        _builds.append(fault)
    return fault


def clear() -> None:
    with _lock:
        _calls.clear()
        _lambdas.clear()
        _builds.clear()


def _take(faults: list, matches) -> object | None:
    with _lock:
        for fault in faults:
            if (fault.times < 0 or fault.failed < fault.times) and matches(fault):
                fault.failed += 1
                return fault
    return None


def call_fault(service: str, action: str) -> CallFault | None:
    return _take(_calls, lambda f: f.service == service and f.action == action)


def lambda_fault(function_name: str) -> LambdaFault | None:
    return _take(_lambdas, lambda f: function_name.endswith(f.function))


def build_fault(project_name: str) -> BuildFault | None:
    return _take(_builds, lambda f: project_name.endswith(f.project))


def install() -> None:
    from moto.core.common_types import TYPE_RESPONSE
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, BaseResponse

    from . import lambda_runtime

    class InjectedFault(ServiceException):
        """Defined outside moto's packages, so moto serializes it with the called service's model."""

    original_call = BaseResponse.call_action

    def call_action(self) -> TYPE_RESPONSE:
        if _calls:
            try:
                action = self._get_action()
            except Exception:  # noqa: BLE001 - no action name, no fault
                action = ""
            fault = call_fault(self.boto3_service_name, action)
            if fault:
                error = InjectedFault(fault.code, f"injected by the emulator's fault switch ({fault.code})")
                _, headers, body = self.serialized(ActionResult(error))
                headers["status"] = fault.status  # what moto's server answers with
                return fault.status, headers, body
        return original_call(self)

    original_invoke = lambda_runtime.invoke

    def invoke(fn, event):
        fault = lambda_fault(fn.function_name) if _lambdas else None
        if fault is None:
            return original_invoke(fn, event)
        if fault.kind == "timeout":
            return lambda_runtime.failure("Sandbox.Timedout", f"Task timed out after {fn.timeout}.00 seconds (injected)")
        return lambda_runtime.failure("Runtime.ExitError", "Runtime exited with error: signal: killed (injected)")

    BaseResponse.call_action = call_action
    lambda_runtime.invoke = invoke
