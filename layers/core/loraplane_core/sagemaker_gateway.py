"""The one place that decides whether a SageMaker (or Application Auto Scaling) error means "that
resource does not exist". Everything else, throttling included, propagates: the Lambda fails and
its state machine retries, instead of a throttled Describe being taken for a missing resource.

SageMaker answers a Describe or Delete of a missing endpoint, endpoint config, model or inference
component with `ValidationException` "Could not find ..." (other ValidationExceptions are real
refusals); some actions answer `ResourceNotFound`; Application Auto Scaling answers
`ObjectNotFoundException`. Deleting what is already being deleted is refused with
`ValidationException` "... already being deleted": for a Delete, that is as good as gone."""
import re

from botocore.exceptions import ClientError

NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException", "ObjectNotFoundException"})
NOT_FOUND_MESSAGE = re.compile(r"could not find|does not exist|not found", re.IGNORECASE)
VALIDATION_CODES = frozenset({"ValidationException", "ValidationError"})
BEING_DELETED_MESSAGE = re.compile(r"already being deleted", re.IGNORECASE)


def is_not_found(error: ClientError) -> bool:
    details = error.response.get("Error", {})
    code, message = details.get("Code", ""), details.get("Message", "")
    return code in NOT_FOUND_CODES or (code in VALIDATION_CODES and bool(NOT_FOUND_MESSAGE.search(message)))


def describe(call, **kwargs) -> dict | None:
    """`call(**kwargs)` (a boto3 Describe), or None when the resource does not exist."""
    try:
        return call(**kwargs)
    except ClientError as e:
        if is_not_found(e):
            return None
        raise


def is_being_deleted(error: ClientError) -> bool:
    details = error.response.get("Error", {})
    return details.get("Code") in VALIDATION_CODES and bool(BEING_DELETED_MESSAGE.search(details.get("Message", "")))


def delete(call, **kwargs) -> bool:
    """`call(**kwargs)` (a boto3 Delete); False when the resource was already gone or going (a
    second teardown, or a component a deployment was removing)."""
    try:
        call(**kwargs)
        return True
    except ClientError as e:
        if is_not_found(e) or is_being_deleted(e):
            return False
        raise
