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
