"""In-process moto for unit tests, without wiping the session's emulator: moto's backends are
process-wide, and `mock_aws()` resets all of them on start and stop, which would empty the
emulated stack that integration and e2e tests share when they run in the same process after."""
import contextlib
import uuid

import pytest
from moto import mock_aws


@contextlib.contextmanager
def moto_in_process(monkeypatch):
    # No endpoint override: other tests in this process point boto3 at the emulator.
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    mock = mock_aws()
    mock.start(reset=False)
    try:
        yield
    finally:
        mock.stop(remove_data=False)


@pytest.fixture
def in_process_aws(monkeypatch):
    """Yields a unique suffix for resource names (the backends are not reset between tests)."""
    with moto_in_process(monkeypatch):
        yield uuid.uuid4().hex[:8]
