"""Lambda service errors in a Task state carry AWS's names: `Lambda.<ErrorCode>`.

moto's interpreter names every error of the Invoke call itself "Exception", so the state machines'
Retry on `Lambda.TooManyRequestsException` (a function at its concurrency limit, which the
emulator's Lambda runtime answers as Lambda does) never matched and a burst of uploads failed
instead of waiting. AWS: "Lambda errors are reported as Lambda.<ErrorCode> ... When Lambda hits the
maximum number of invocations, the error is Lambda.TooManyRequestsException"
(https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
Errors the function itself raises keep their errorType, as before.
"""


def error_name(code: str) -> str:
    return code if code.startswith("Lambda.") else f"Lambda.{code}"


def install() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = StateTaskLambda._from_error

    def _from_error(self, env, ex: Exception):
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        error = error_name(ex.response.get("Error", {}).get("Code") or "AWSLambdaException")
        cause = ex.response.get("Error", {}).get("Message", "")
        return FailureEvent(
            env=env, error_name=CustomErrorName(error), event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(
                error=error, cause=cause)))

    StateTaskLambda._from_error = _from_error
