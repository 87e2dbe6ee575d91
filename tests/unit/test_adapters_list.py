"""`loraplane adapters list --json`: per live adapter, `invoke` holds what the contract (CONTRACTS.md section
4) promises - the InvokeEndpoint arguments, exactly: `EndpointName` and `InferenceComponentName` (the default
mode) or `CustomAttributes` (on-demand). ServingMode async is the documented exception: the same arguments,
for InvokeEndpointAsync (docs/operations.md)."""
import json

import botocore.session
import pytest
from botocore.validate import validate_parameters

from loraplane.adapters_list import collect, render
from loraplane_core import catalog_keys
from loraplane_core.endpoint_names import adapter_component
from tests.unit.recorder import Recorder

ENDPOINT = "ml-p-aaa-endpoint"
SHA = "ab" * 32


def version(adapter: str, state: str, n: int) -> dict:
    return {**catalog_keys.version_key(adapter, f"{n}{SHA}"[:64]), "adapter_name": adapter, "state": state,
            "package_version": n, "package_arn": f"arn:aws:sagemaker:r:1:model-package/ml-p-aaa-adapters/{n}",
            "sha256": SHA, "rank": 8, "base_model": "tiny-llama", "target_modules": ["q_proj"], "source": "s3://b/k"}


def listed(mode: str) -> dict:
    table = Recorder({"scan": {"Items": [version("bot", "live", 2), version("bot", "retired", 1),
                                         version("idle", "registered", 3)]}})
    sagemaker = Recorder({"describe_model_package": {"ModelApprovalStatus": "Approved"}})
    listing = json.loads(render(collect(table, sagemaker, ENDPOINT, mode), as_json=True))
    return {a["name"]: a for a in listing["adapters"]}


def runtime_input(operation: str):
    return botocore.session.get_session().get_service_model("sagemaker-runtime").operation_model(operation).input_shape


def test_the_default_mode_gives_exactly_the_invoke_endpoint_arguments():
    adapters = listed("inference-components")
    assert adapters["bot"]["invoke"] == {"EndpointName": ENDPOINT,
                                         "InferenceComponentName": adapter_component(ENDPOINT, "bot")}
    assert "invoke" not in adapters["idle"]  # only live adapters can be invoked
    # botocore takes them as they are, with a body
    validate_parameters({**adapters["bot"]["invoke"], "Body": b"{}", "ContentType": "application/json"},
                        runtime_input("InvokeEndpoint"))


@pytest.mark.parametrize("mode, operation, request_members", [
    ("on-demand", "InvokeEndpoint", {"Body": b"{}"}),
    ("async", "InvokeEndpointAsync", {"InputLocation": "s3://b/async/inputs/r.json"}),  # per request, in S3
])
def test_the_other_modes_name_the_adapter_in_custom_attributes(mode, operation, request_members):
    invoke = listed(mode)["bot"]["invoke"]
    assert invoke == {"EndpointName": ENDPOINT, "CustomAttributes": "adapter=bot"}
    validate_parameters({**invoke, **request_members}, runtime_input(operation))
