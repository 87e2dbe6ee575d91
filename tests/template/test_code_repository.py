"""The team's Git repository: with CodeRepositoryUrl set, the stack makes an
AWS::SageMaker::CodeRepository tagged with the project (Studio lists it beside the project's models
and pipelines), with the branch and the credentials secret when given; without it, nothing."""
import re

import pytest

from .conftest import LONGEST
from .iam import Resolver

URL = "https://github.com/acme/support-bot-adapters.git"
SECRET = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:git/acme-AbCdEf"


def repository(expanded, **params):
    r = Resolver(expanded, {**LONGEST, **params})
    resource = expanded["Resources"]["CodeRepository"]
    return r, resource, r.condition(resource["Condition"])


def test_no_url_no_repository(expanded):
    _, resource, created = repository(expanded)
    assert resource["Type"] == "AWS::SageMaker::CodeRepository" and not created
    assert expanded["Outputs"]["CodeRepositoryName"]["Condition"] == resource["Condition"]


@pytest.mark.parametrize("params,git", [
    ({"CodeRepositoryUrl": URL}, {"RepositoryUrl": URL}),
    ({"CodeRepositoryUrl": URL, "CodeRepositoryBranch": "main", "CodeRepositorySecretArn": SECRET},
     {"RepositoryUrl": URL, "Branch": "main", "SecretArn": SECRET}),
], ids=["public", "private"])
def test_a_url_makes_a_tagged_code_repository(expanded, params, git):
    r, resource, created = repository(expanded, **params)
    assert created
    props = r(resource["Properties"])
    assert props["GitConfig"] == git  # empty branch and secret: left out, not ""
    assert {t["Key"]: t["Value"] for t in props["Tags"]} == {"sagemaker:project-name": LONGEST["SageMakerProjectName"],
                                                             "sagemaker:project-id": LONGEST["SageMakerProjectId"]}
    name = props["CodeRepositoryName"]
    assert len(name) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", name)  # SageMaker's rule


def test_the_parameters_accept_what_sagemaker_accepts(sam_template):
    params = sam_template["Parameters"]
    url, secret = (re.compile(params[k]["AllowedPattern"]) for k in ("CodeRepositoryUrl", "CodeRepositorySecretArn"))
    assert url.fullmatch("") and url.fullmatch(URL) and url.fullmatch("https://git.example.com/team/repo")
    assert not url.fullmatch("git@github.com:acme/repo.git") and not url.fullmatch("http://github.com/acme/repo")
    branch = re.compile(params["CodeRepositoryBranch"]["AllowedPattern"])
    assert branch.fullmatch("") and branch.fullmatch("main") and branch.fullmatch("release/2.1")
    assert not branch.fullmatch("two words") and not branch.fullmatch("a:b")
    assert secret.fullmatch("") and secret.fullmatch(SECRET)
    assert not secret.fullmatch("arn:aws:iam::123456789012:role/x")
    assert all(params[k]["Default"] == "" for k in ("CodeRepositoryUrl", "CodeRepositoryBranch", "CodeRepositorySecretArn"))
