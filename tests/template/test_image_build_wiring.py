"""The serving image's build in the template: an empty ServingImageUri means the stack's own image
(its ECR repository's :latest) everywhere the image is named; the CodeBuild project builds
gpu_container/Dockerfile on ServingBaseImage (AWS's SageMaker vLLM image by default) and pushes to
that repository; its role reads only the uploaded sources and pushes only there."""
import json

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from .conftest import LONGEST, REPO
from .iam import ACCOUNT, REGION, Resolver, allowed, arn, role_statements

REPOSITORY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/sagemaker-{LONGEST['SageMakerProjectId']}-serving"
AWS_VLLM = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/vllm:server-sagemaker-cuda-v1"


def resolver(expanded, **params) -> Resolver:
    return Resolver(expanded, {**LONGEST, **params})


def function_images(expanded, r: Resolver) -> set[str]:
    return {r(x["Properties"]["Environment"]["Variables"]["SERVING_IMAGE_URI"])
            for x in expanded["Resources"].values() if x["Type"] == "AWS::Lambda::Function"}


@pytest.mark.parametrize("given,expected", [("", f"{REPOSITORY}:latest"),
                                            ("111122223333.dkr.ecr.eu-west-1.amazonaws.com/mine:7", None)])
def test_an_empty_serving_image_uri_means_the_stacks_own_image(expanded, given, expected):
    r = resolver(expanded, ServingImageUri=given)
    expected = expected or given
    assert function_images(expanded, r) == {expected}
    assert r(expanded["Outputs"]["ServingImageUri"]["Value"]) == expected
    assert r(expanded["Outputs"]["ServingImageRepositoryUri"]["Value"]) == REPOSITORY


def test_the_default_image_is_the_stacks_and_no_longer_a_placeholder(sam_template):
    assert sam_template["Parameters"]["ServingImageUri"]["Default"] == ""
    assert sam_template["Parameters"]["ServingBaseImage"]["Default"] == ""


def project_env(expanded, r: Resolver) -> dict[str, str]:
    env = r(expanded["Resources"]["ImageBuildProject"]["Properties"]["Environment"])
    return {v["Name"]: v["Value"] for v in env["EnvironmentVariables"]}


@pytest.mark.parametrize("base,expected", [("", AWS_VLLM), ("public.ecr.aws/me/vllm:x", "public.ecr.aws/me/vllm:x")])
def test_the_build_uses_the_chosen_base_and_pushes_to_the_stacks_repository(expanded, base, expected):
    r = resolver(expanded, ServingBaseImage=base)
    assert project_env(expanded, r) | {"IMAGE_TAG": "-"} == {"BASE_IMAGE": expected, "REPOSITORY_URI": REPOSITORY,
                                                             "IMAGE_TAG": "-"}


def test_the_build_project_builds_the_dockerfile_with_docker(expanded):
    r = resolver(expanded)
    props = r(expanded["Resources"]["ImageBuildProject"]["Properties"])
    assert props["Environment"]["PrivilegedMode"] is True and props["Environment"]["Type"] == "LINUX_CONTAINER"
    assert props["ServiceRole"] == r.getatt("ImageBuildRole", "Arn")
    assert props["LogsConfig"]["CloudWatchLogs"]["GroupName"] == r.ref("ImageBuildLogGroup")
    assert props["Source"]["Type"] == "S3" and props["Source"]["Location"].startswith(r.ref("AdapterBucket") + "/image-sources/")
    spec = yaml.safe_load(props["Source"]["BuildSpec"])
    commands = "\n".join(c for phase in spec["phases"].values() for c in phase["commands"])
    assert 'docker build -f gpu_container/Dockerfile --build-arg BASE_IMAGE="$BASE_IMAGE"' in commands
    assert 'docker push "$REPOSITORY_URI:$IMAGE_TAG"' in commands and 'docker push "$REPOSITORY_URI:latest"' in commands
    assert "docker login" in commands and "get-login-password" in commands
    assert r(expanded["Outputs"]["ImageBuildProject"]["Value"]) == props["Name"]


def test_the_dockerfile_takes_the_base_image_as_a_build_argument():
    """The buildspec's --build-arg BASE_IMAGE must reach FROM (an ARG before the first FROM)."""
    parser = DockerfileParser(str(REPO / "gpu_container" / "Dockerfile"))
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    first_from = next(n for n, (kind, _) in enumerate(instructions) if kind == "FROM")
    assert any(kind == "ARG" and value.split("=")[0] == "BASE_IMAGE" for kind, value in instructions[:first_from])
    assert instructions[first_from][1] in ("${BASE_IMAGE}", "$BASE_IMAGE")


def test_the_repository_scans_encrypts_and_keeps_recent_builds(expanded):
    r = resolver(expanded)
    resource = expanded["Resources"]["ServingImageRepository"]
    props = r(resource["Properties"])
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert props["EncryptionConfiguration"] == {"EncryptionType": "KMS", "KmsKey": r.getatt("AdapterKey", "Arn")}
    rules = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    kept = [x for x in rules if x["selection"].get("tagPatternList") == ["src-*"]]
    assert kept and kept[0]["selection"]["countType"] == "imageCountMoreThan"
    assert not [x for x in rules if x["selection"]["tagStatus"] == "any"]  # never `latest` by age alone
    # Images are build outputs (made again by `loraplane image build`): deleted with the stack.
    assert resource["DeletionPolicy"] == "Delete" and props["EmptyOnDelete"] is True


@pytest.mark.parametrize("base,own_repositories", [("", False), (f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/b:1", True)])
def test_the_build_role_reads_its_sources_and_pushes_only_to_its_repository(expanded, base, own_repositories):
    r = resolver(expanded, ServingBaseImage=base)
    role = role_statements(expanded, r)["ImageBuildRole"]
    bucket, repository = r.getatt("AdapterBucket", "Arn"), r.getatt("ServingImageRepository", "Arn")
    assert allowed(role, "s3:GetObject", f"{bucket}/image-sources/abc.zip")
    assert not allowed(role, "s3:GetObject", f"{bucket}/adapters/x/adapter_model.safetensors")
    assert not any(allowed(role, a, f"{bucket}/image-sources/abc.zip") for a in ("s3:PutObject", "s3:DeleteObject"))
    assert allowed(role, "ecr:PutImage", repository)
    assert not allowed(role, "ecr:PutImage", arn("ecr", "repository/sagemaker-p-other-serving"))
    assert allowed(role, "ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:763104351884:repository/vllm")
    assert allowed(role, "ecr:BatchGetImage", arn("ecr", "repository/base-images")) is own_repositories
