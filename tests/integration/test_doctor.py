"""`loraplane doctor` against the emulator: a stack of its own whose serving image is in the
emulator's ECR. It fails on what is wrong, each failure with its one-line fix, and passes once the
fix is applied; and the Service Quotas shim it reads answers as AWS documents."""
import datetime as dt
import json
import re

import pytest
from botocore.exceptions import ClientError

from loraplane.cli import main
from loraplane.doctor import runtimes
from loraplane.emulator.deploy import deploy_stack, local_parameters
from loraplane.emulator.shims import faults, service_quotas
from tests.stack_fixture import delete_stack

STACK = "loraplane-doctor"
REPOSITORY = "lpdoc/serving"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                                  "digest": "sha256:" + "c" * 64}, "layers": []})


@pytest.fixture(scope="module")
def ready(emulator) -> dict:
    ecr = emulator.client("ecr")
    uri = ecr.create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"] + ":v1"
    ecr.put_image(repositoryName=REPOSITORY, imageManifest=MANIFEST, imageTag="v1")
    params = local_parameters("lpdoc", "p-doc", ServingImageUri=uri, InstanceCount="1", MaxInstanceCount="2")
    outputs = deploy_stack(emulator, STACK, params)
    yield {"outputs": outputs, "params": params, "image": uri}
    delete_stack(emulator, STACK)
    ecr.delete_repository(repositoryName=REPOSITORY, force=True)


@pytest.fixture(autouse=True)
def clean_quotas_and_faults():
    service_quotas.reset()
    yield
    service_quotas.reset()
    faults.clear()


def doctor(capsys, *args: str) -> tuple[int, dict[str, dict]]:
    code = main(["doctor", "--stack-name", STACK, "--output", "json", *args])
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] == (code == 0)
    return code, {c["name"]: c for c in report["checks"]}


def expected_runtime_status(check: dict) -> str:
    """Today's verdict on the runtime the check found (the template's), so the test ages with the table."""
    return runtimes.decide(check["detail"].split()[0].rstrip(":,"), dt.date.today()).status


def test_fails_on_the_quota_then_passes_once_the_printed_fix_is_applied(ready, emulator, capsys):
    code, checks = doctor(capsys)
    assert code == 1
    assert list(checks) == ["credentials", "stack", "endpoint quota", "serving image", "adapter bucket", "kms key",
                            "model package groups", "lambda runtime"]
    assert [n for n, c in checks.items() if c["status"] == "fail"] == ["endpoint quota"], checks
    fix = checks["endpoint quota"]["fix"]
    found = re.fullmatch(r"request an increase: aws service-quotas request-service-quota-increase --service-code "
                         r"sagemaker --quota-code (L-[0-9A-F]{8}) --desired-value (\d+) --region us-east-1", fix)
    assert found and found[2] == "2", fix  # MaxInstanceCount
    assert ready["image"] in checks["serving image"]["detail"]

    emulator.client("service-quotas").request_service_quota_increase(
        ServiceCode="sagemaker", QuotaCode=found[1], DesiredValue=float(found[2]))
    code, checks = doctor(capsys)
    assert code == 0 and all(c["status"] == "ok" for n, c in checks.items() if n != "lambda runtime"), checks
    assert checks["lambda runtime"]["status"] == expected_runtime_status(checks["lambda runtime"])

    assert main(["doctor", "--stack-name", STACK]) == 0  # the table: one line per check, then the verdict
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 9 and lines[-1] == "Ready: every check passed."
    assert all(" -> fix: " not in x for x in lines if x.startswith("ok"))


def test_each_problem_is_one_failed_line_with_its_fix(ready, emulator, capsys):
    emulator.client("ecr").batch_delete_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": "v1"}])
    faults.fail_call("kms", "DescribeKey", "AccessDeniedException", times=-1)
    faults.fail_call("sagemaker", "DescribeModelPackageGroup", "ValidationException", times=-1)
    try:
        code, checks = doctor(capsys)
        assert main(["doctor", "--stack-name", STACK]) == 1
        table = capsys.readouterr().out
    finally:
        emulator.client("ecr").put_image(repositoryName=REPOSITORY, imageManifest=MANIFEST, imageTag="v1")
    assert code == 1
    assert checks["serving image"]["status"] == "fail"
    assert checks["serving image"]["fix"] == f"push it: docker push {ready['image']}"
    assert checks["kms key"]["status"] == "fail" and "kms:DescribeKey" in checks["kms key"]["fix"]
    assert checks["model package groups"]["status"] == "fail" and "sam deploy" in checks["model package groups"]["fix"]
    assert checks["adapter bucket"]["status"] == "ok" and checks["stack"]["status"] == "ok"
    assert "Traceback" not in table and len(table.splitlines()) == 9
    assert sum(line.startswith("FAIL") for line in table.splitlines()) == 4  # and the quota


def test_a_missing_stack_is_one_line_not_a_traceback(emulator, capsys):
    code = main(["doctor", "--stack-name", "no-such-stack"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1 and out[0].startswith("ok") and out[1].startswith("FAIL  stack")
    assert "no stack no-such-stack" in out[1] and "--stack-name" in out[1] and len(out) == 3


def test_service_quotas_shim(emulator):
    sq = emulator.client("service-quotas")
    pages = list(sq.get_paginator("list_aws_default_service_quotas").paginate(ServiceCode="sagemaker"))
    defaults = [q for p in pages for q in p["Quotas"]]
    assert len(pages) > 1 and len(defaults) == len(service_quotas.instance_types())  # paginated, 100 a page
    g5 = next(q for q in defaults if q["QuotaName"] == "ml.g5.2xlarge for endpoint usage")
    assert g5["Value"] == 0 and g5["QuotaCode"] == service_quotas.quota_code("ml.g5.2xlarge")
    assert sq.list_service_quotas(ServiceCode="sagemaker")["Quotas"] == []  # applied values only

    asked = sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=g5["QuotaCode"], DesiredValue=3)
    assert asked["RequestedQuota"]["Status"] == "APPROVED"
    [applied] = sq.list_service_quotas(ServiceCode="sagemaker")["Quotas"]
    assert applied["QuotaName"] == g5["QuotaName"] and applied["Value"] == 3
    with pytest.raises(ClientError) as lower:
        sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=g5["QuotaCode"], DesiredValue=2)
    with pytest.raises(ClientError) as unknown:
        sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode="L-00000000", DesiredValue=2)
    assert lower.value.response["Error"]["Code"] == "IllegalArgumentException"
    assert unknown.value.response["Error"]["Code"] == "NoSuchResourceException"
    assert sq.list_aws_default_service_quotas(ServiceCode="vpc")["Quotas"]  # moto's own, unchanged


def test_an_empty_image_parameter_means_the_stacks_own_repository(emulator, capsys):
    name = "loraplane-doctor-own"
    outputs = deploy_stack(emulator, name, local_parameters("lpown", "p-own", ServingImageUri=""))
    repository = outputs["ServingImageRepositoryUri"].split("/", 1)[1]
    ecr = emulator.client("ecr")
    try:
        main(["doctor", "--stack-name", name, "--output", "json"])
        [before] = [c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "serving image"]
        ecr.put_image(repositoryName=repository, imageManifest=MANIFEST, imageTag="latest")  # what image build pushes
        main(["doctor", "--stack-name", name, "--output", "json"])
        [after] = [c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "serving image"]
    finally:
        ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageTag": "latest"}])
        delete_stack(emulator, name)
    assert before["status"] == "fail" and before["fix"] == "run `loraplane image build`", before
    assert after["status"] == "ok" and "the stack's own repository" in after["detail"], after
