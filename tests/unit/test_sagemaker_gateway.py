"""Only a missing resource reads as "not there": throttling and real refusals propagate."""
import pytest
from botocore.exceptions import ClientError

from loraplane_core.sagemaker_gateway import delete, describe, is_not_found


def error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeEndpoint")


@pytest.mark.parametrize("code, message, missing", [
    ("ValidationException", 'Could not find endpoint "arn:aws:sagemaker:us-east-1:1:endpoint/x".', True),
    ("ValidationException", "Could not find inference component \"x\".", True),
    ("ValidationError", "Endpoint x does not exist.", True),
    ("ResourceNotFound", "", True),
    ("ObjectNotFoundException", "No scalable target registered", True),
    ("ThrottlingException", "Rate exceeded", False),
    ("ValidationException", "Inference component base has adapter components: delete them first.", False),
    ("AccessDeniedException", "not authorized to perform sagemaker:DescribeEndpoint", False),
    ("InternalFailure", "", False),
])
def test_not_found_is_told_apart(code, message, missing):
    assert is_not_found(error(code, message)) is missing


def test_describe_and_delete_return_absence_and_raise_the_rest():
    def gone(**_):
        raise error("ValidationException", "Could not find model \"m\".")

    def throttled(**_):
        raise error("ThrottlingException", "Rate exceeded")

    assert describe(gone, ModelName="m") is None and delete(gone, ModelName="m") is False
    assert describe(lambda **kw: kw, ModelName="m") == {"ModelName": "m"} and delete(lambda **kw: None) is True
    with pytest.raises(ClientError):
        describe(throttled, ModelName="m")
    with pytest.raises(ClientError):
        delete(throttled, ModelName="m")


def test_deleting_what_is_already_being_deleted_is_not_an_error():
    """A second teardown (after TeardownIncomplete) meets components still Deleting: it carries on."""
    def deleting(**_):
        raise error("ValidationException", 'Cannot delete inference component "arn:x": it is already being deleted.')

    def refused(**_):
        raise error("ValidationException", "Inference component base has adapter components: delete them first.")

    assert delete(deleting, InferenceComponentName="x") is False
    assert describe(lambda **kw: {"InferenceComponentStatus": "Deleting"}, InferenceComponentName="x")
    with pytest.raises(ClientError):
        delete(refused, InferenceComponentName="base")
    with pytest.raises(ClientError):
        describe(deleting, InferenceComponentName="x")  # only a Delete reads it as gone
