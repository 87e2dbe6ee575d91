"""`loraplane image build` against the emulator: the stack owns the ECR repository and the CodeBuild
project; the CLI uploads exactly the Dockerfile's build context, starts the build with its source and
tag as overrides, follows it phase by phase and ends with the image URI - or, for a failed build,
exit 1, the failed phase, its reason and the log tail. A stack of its own, deployed with an empty
ServingImageUri (the stack's own image); no base model, so nothing serves."""
import io
import json
import zipfile

import pytest

from loraplane.cli import main
from loraplane.emulator.deploy import deploy_stack, local_parameters
from loraplane.emulator.shims import faults
from loraplane.image.build import source_zip
from loraplane.image.dockerfile import REPO, context_files
from tests.stack_fixture import delete_stack

STACK = "loraplane-image-test"
AWS_VLLM = "763104351884.dkr.ecr.us-east-1.amazonaws.com/vllm:server-sagemaker-cuda-v1"


@pytest.fixture(scope="module")
def outputs(emulator):
    params = local_parameters("lpimg", "p-image", ServingImageUri="")
    yield deploy_stack(emulator, STACK, params)
    delete_stack(emulator, STACK)


@pytest.fixture(autouse=True)
def no_faults_left():
    yield
    faults.clear()


@pytest.fixture(autouse=True)
def no_pause_between_polls(monkeypatch):
    """--poll-seconds is at least 1 (AWS would throttle less); the emulator's build needs no wait."""
    import loraplane.image.build as build_module

    monkeypatch.setattr(build_module.time, "sleep", lambda seconds: None)


def image_build(capsys, *extra: str) -> tuple[int, str, str]:
    rc = main(["image", "build", "--stack-name", STACK, "--poll-seconds", "1", *extra])
    out, err = capsys.readouterr()
    return rc, out, err


def env_of(build_or_project: dict) -> dict[str, str]:
    return {v["name"]: v["value"] for v in build_or_project["environment"]["environmentVariables"]}


def test_the_stack_owns_the_repository_and_the_build_project(emulator, outputs):
    repository = outputs["ServingImageRepositoryUri"]
    assert repository == "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-p-image-serving"
    assert outputs["ServingImageUri"] == f"{repository}:latest"  # empty parameter: the stack's own image
    [repo] = emulator.client("ecr").describe_repositories(repositoryNames=["sagemaker-p-image-serving"])["repositories"]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert repo["encryptionConfiguration"]["encryptionType"] == "KMS"
    assert repo["encryptionConfiguration"]["kmsKey"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    [project] = emulator.client("codebuild").batch_get_projects(names=[outputs["ImageBuildProject"]])["projects"]
    assert project["environment"]["privilegedMode"] is True
    assert env_of(project) | {"IMAGE_TAG": "-"} == {"BASE_IMAGE": AWS_VLLM, "REPOSITORY_URI": repository, "IMAGE_TAG": "-"}
    assert project["source"]["type"] == "S3" and "-f gpu_container/Dockerfile" in project["source"]["buildspec"]
    assert project["logsConfig"]["cloudWatchLogs"]["groupName"] == "/aws/codebuild/lpimg-p-image-serving-image"


def test_the_source_is_exactly_the_dockerfiles_context_and_reproducible():
    source = source_zip()
    names = zipfile.ZipFile(io.BytesIO(source.data)).namelist()
    assert names == sorted(str(p.relative_to(REPO)) for p in context_files())
    assert "gpu_container/Dockerfile" in names and not [n for n in names if n.startswith(("src/", "tests/"))]
    assert source_zip().data == source.data  # same tree, same bytes, same key
    serve = zipfile.ZipFile(io.BytesIO(source.data)).getinfo("gpu_container/serve")
    assert serve.external_attr >> 16 == 0o755 and serve.date_time == (1980, 1, 1, 0, 0, 0)


def test_a_build_uploads_the_source_starts_with_overrides_and_follows_to_the_image(emulator, outputs, capsys):
    rc, out, err = image_build(capsys, "--output", "json")
    assert rc == 0, err
    result, source = json.loads(out), source_zip()
    tag = f"src-{source.sha256[:12]}"
    assert result["status"] == "SUCCEEDED"
    assert result["image_uri"] == f"{outputs['ServingImageRepositoryUri']}:{tag}"
    assert result["source"] == f"s3://{outputs['AdapterBucketName']}/image-sources/{source.sha256}.zip"
    stored = emulator.client("s3").get_object(Bucket=outputs["AdapterBucketName"], Key=f"image-sources/{source.sha256}.zip")
    assert stored["Body"].read() == source.data
    phases = [line.split("] ", 1)[1] for line in err.splitlines() if line.startswith("[")]
    assert phases == ["QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD",
                      "UPLOAD_ARTIFACTS", "FINALIZING"]
    [build] = emulator.client("codebuild").batch_get_builds(ids=[result["build_id"]])["builds"]
    assert build["source"]["type"] == "S3"
    assert build["source"]["location"] == f"{outputs['AdapterBucketName']}/image-sources/{source.sha256}.zip"
    assert env_of(build) == {"BASE_IMAGE": AWS_VLLM, "REPOSITORY_URI": outputs["ServingImageRepositoryUri"],
                             "IMAGE_TAG": tag}
    again_rc, _, again = image_build(capsys, "--no-wait")
    assert again_rc == 0 and "(already there)" in again  # content-addressed: nothing uploaded twice


def test_a_failed_build_exits_1_with_the_phase_the_reason_and_the_log(outputs, capsys):
    fault = faults.fail_build("-serving-image", phase="BUILD")
    rc, out, err = image_build(capsys)
    assert rc == 1 and fault.failed == 1
    assert "STATUS  FAILED" in out and "PHASE   BUILD" in out
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: image build lpimg-p-image-serving-image:") and " FAILED in BUILD: " in last
    assert "exit status 1" in last and "The whole log: aws logs tail /aws/codebuild/lpimg-p-image-serving-image" in last
    assert "  | [Container] Phase context status code: COMMAND_EXECUTION_ERROR" in err
    assert "Traceback" not in err


def test_a_missing_source_fails_in_download_source(emulator, outputs):
    from loraplane.image.build import follow

    codebuild = emulator.client("codebuild")
    started = codebuild.start_build(projectName=outputs["ImageBuildProject"], sourceTypeOverride="S3",
                                    sourceLocationOverride=f"{outputs['AdapterBucketName']}/image-sources/none.zip")
    build = follow(codebuild, started["build"]["id"], lambda _: None, interval=0)
    [failed] = [p for p in build["phases"] if p.get("phaseStatus") == "FAILED"]
    assert build["buildStatus"] == "FAILED" and failed["phaseType"] == "DOWNLOAD_SOURCE"
    assert failed["contexts"][0]["statusCode"] == "CLIENT_ERROR"
    assert [p["phaseType"] for p in build["phases"]][-2:] == ["FINALIZING", "COMPLETED"]


def test_user_mistakes_are_one_line_errors(outputs, capsys):
    faults.fail_call("codebuild", "StartBuild", "AccessDeniedException")
    rc, _, err = image_build(capsys)
    assert rc == 1 and err.strip().splitlines()[-1].startswith("error: StartBuild: ")
    assert "Ask for the permission it names" in err
    rc = main(["image", "build", "--stack-name", "no-such-stack"])
    err = capsys.readouterr().err
    assert rc == 3 and err.startswith("error: no stack no-such-stack") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
