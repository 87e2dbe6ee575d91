"""The doctor's pure parts, without AWS: image URIs, policy reading, runtime dates, quota arithmetic,
and the rendering of results."""
import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraplane.doctor import image, quota, runtimes
from loraplane.doctor.result import Check, StackFacts, fail, ok, warn
from loraplane.doctor.run import failed, guarded, render, run

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32


# --- image URIs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("uri, expected", [
    (f"{HOST}/loraplane/serving:v1", image.ImageRef("123456789012", "us-east-1", "loraplane/serving", tag="v1")),
    (f"{HOST}/serving", image.ImageRef("123456789012", "us-east-1", "serving")),
    (f"{HOST}/a/b/serving@{DIGEST}", image.ImageRef("123456789012", "us-east-1", "a/b/serving", digest=DIGEST)),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/x-y:latest",
     image.ImageRef("123456789012", "us-gov-west-1", "x-y", tag="latest")),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/ab:1.0",
     image.ImageRef("123456789012", "cn-north-1", "ab", tag="1.0")),
])
def test_ecr_uris_parse(uri, expected):
    assert image.parse(uri) == expected


@pytest.mark.parametrize("uri, reason", [
    ("", "empty"), ("   ", "empty"), (None, "empty"),
    (f"{HOST}/serving:v1\n", "malformed"), (f"{HOST}/ser ving", "malformed"),
    ("loraplane-serving:latest", "no-registry"),
    ("public.ecr.aws/loraplane/serving:latest", "ecr-public"),
    ("loraplane/serving:local", "not-ecr"), ("docker.io/library/python:3.11", "not-ecr"),
    ("12345678901.dkr.ecr.us-east-1.amazonaws.com/serving", "not-ecr"),
    (f"{HOST}/Serving:v1", "bad-repository"), (f"{HOST}/a", "bad-repository"), (f"{HOST}/a//b", "bad-repository"),
    (f"{HOST}/serving:", "bad-tag"), (f"{HOST}/serving:-x", "bad-tag"), (f"{HOST}/serving:" + "t" * 129, "bad-tag"),
    (f"{HOST}/serving@sha256:abc", "bad-digest"), (f"{HOST}/serving@md5:" + "a" * 64, "bad-digest"),
])
def test_other_strings_are_rejected_by_name(uri, reason):
    parsed = image.parse(uri)
    assert isinstance(parsed, image.Rejection) and parsed.reason == reason and parsed.message


@given(st.one_of(st.text(), st.text(alphabet="0123456789abcdef.:/@-_ABCsha", max_size=120),
                 st.text(max_size=40).map(lambda s: f"{HOST}/{s}")))
def test_any_string_parses_or_is_rejected_never_crashes(uri):
    parsed = image.parse(uri)
    assert isinstance(parsed, (image.ImageRef, image.Rejection))
    if isinstance(parsed, image.ImageRef):
        assert uri.startswith(f"{parsed.account}.dkr.ecr") and parsed.repository in uri


_component = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,4}){0,2}", fullmatch=True)


@given(account=st.from_regex(r"[0-9]{12}", fullmatch=True),
       region=st.sampled_from(["us-east-1", "eu-west-2", "ap-southeast-3", "us-gov-west-1"]),
       parts=st.lists(_component, min_size=1, max_size=3).filter(lambda p: len("/".join(p)) >= 2),
       ref=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
                     st.from_regex(r"[a-f0-9]{64}", fullmatch=True).map(lambda h: "sha256:" + h)))
def test_valid_uris_round_trip(account, region, parts, ref):
    repository = "/".join(parts)
    suffix = "" if ref is None else (f"@{ref}" if ref.startswith("sha256:") else f":{ref}")
    parsed = image.parse(f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}{suffix}")
    is_digest = ref is not None and ref.startswith("sha256:")
    assert parsed == image.ImageRef(account, region, repository, tag=None if is_digest else ref,
                                    digest=ref if is_digest else None)
    assert parsed.image_id == ({"imageDigest": ref} if parsed.digest else {"imageTag": ref or "latest"})


def test_an_empty_parameter_means_the_stacks_own_repository():
    own = {"ServingImageRepositoryUri": f"{HOST}/loraplane-p1-serving"}
    assert image.serving_image(f"{HOST}/x:1", own) == (f"{HOST}/x:1", False)
    assert image.serving_image("", own) == (f"{HOST}/loraplane-p1-serving:latest", True)
    assert image.serving_image("", {}) == (None, True)


def test_without_the_repository_output_the_fix_is_to_build():
    facts = StackFacts(None, "s", "us-east-1", "123456789012", params={"ServingImageUri": ""})
    found = image.check(facts)
    assert found.status == "fail" and "loraplane image build" in found.fix


def test_a_rejected_uri_fails_with_the_way_to_ecr():
    facts = StackFacts(None, "s", "us-east-1", "123456789012", params={"ServingImageUri": "public.ecr.aws/x/y:1"})
    found = image.check(facts)
    assert found.status == "fail" and "private ECR" in found.detail and "us-east-1" in found.fix


def test_an_image_in_another_region_fails_before_any_call():
    facts = StackFacts(None, "s", "eu-west-1", "123456789012", params={"ServingImageUri": f"{HOST}/x:1"})
    found = image.check(facts)
    assert found.status == "fail" and "eu-west-1" in found.fix


# --- policies -------------------------------------------------------------------------------------

ROLE_POLICY = {"Statement": [
    {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
     "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/*"}]}
REPO = "arn:aws:ecr:us-east-1:123456789012:repository/loraplane/serving"


def test_identity_policies_are_read_with_wildcards():
    assert image.allows([ROLE_POLICY], "ecr:BatchGetImage", REPO)
    assert image.allows([ROLE_POLICY], "ECR:batchgetimage", REPO)  # actions are case-insensitive
    assert not image.allows([ROLE_POLICY], "ecr:BatchGetImage", REPO.replace("123456789012", "999999999999"))
    assert image.allows([ROLE_POLICY], "ecr:GetAuthorizationToken", "*")
    deny = {"Statement": {"Effect": "Deny", "Action": "ecr:*", "Resource": "*"}}
    assert not image.allows([ROLE_POLICY, deny], "ecr:BatchGetImage", REPO)


def test_repository_policies_are_read_for_the_role():
    role = "arn:aws:iam::123456789012:role/endpoint"
    for principal in ({"AWS": role}, {"AWS": ["arn:aws:iam::123456789012:root"]}, "*", {"AWS": "123456789012"}):
        policy = {"Statement": [{"Effect": "Allow", "Principal": principal, "Action": ["ecr:BatchGetImage"]}]}
        assert image.allows([policy], "ecr:BatchGetImage", None, (role, "123456789012")), principal
    other = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                            "Action": "ecr:*"}]}
    assert not image.allows([other], "ecr:BatchGetImage", None, (role, "123456789012"))
    granted = json.loads(image.pull_policy(role))
    assert all(image.allows([granted], a, None, (role, "123456789012")) for a in image.PULL_ACTIONS)


# --- runtimes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("today, status", [
    (dt.date(2026, 11, 30), "ok"),
    (dt.date(2027, 1, 1), "warn"),  # 180 days before 2027-06-30
    (dt.date(2026, 12, 31), "ok"),
    (dt.date(2027, 6, 30), "warn"),  # deprecated, still creatable
    (dt.date(2027, 7, 31), "warn"),
    (dt.date(2027, 8, 1), "fail"),  # creates blocked
])
def test_python311_dates(today, status):
    found = runtimes.decide("python3.11", today)
    assert found.status == status
    assert (found.fix == "") == (status == "ok") and (status == "ok" or "python3.13" in found.fix)


def test_runtime_table_and_unknown_runtimes():
    assert runtimes.decide("python3.12", dt.date(2028, 12, 1)).status == "fail"
    assert runtimes.decide("python3.13", dt.date(2029, 1, 1)).status == "warn"
    unknown = runtimes.decide("python3.99", dt.date(2026, 1, 1))
    assert unknown.status == "warn" and runtimes.DOCS in unknown.fix
    assert runtimes.worst([ok("a", ""), warn("b", "", "f"), ok("c", "")]).name == "b"


# --- quota ----------------------------------------------------------------------------------------

def test_instances_needed():
    assert quota.instances_needed("inference-components", 1, 2) == 2
    assert quota.instances_needed("inference-components", 3, 2) == 3
    assert quota.instances_needed("on-demand", 2, 1) == 4  # blue/green runs both fleets


@pytest.mark.parametrize("value, needed, status", [(None, 2, "warn"), (0.0, 1, "fail"), (1.0, 2, "fail"),
                                                   (2.0, 2, "ok"), (8.0, 2, "ok")])
def test_quota_decision(value, needed, status):
    found = quota.decide(value, needed, "ml.g5.2xlarge", "L-ABCDEF12", "us-west-2")
    assert found.status == status
    if status == "fail":
        assert found.fix == ("request an increase: aws service-quotas request-service-quota-increase --service-code "
                             f"sagemaker --quota-code L-ABCDEF12 --desired-value {needed} --region us-west-2")
    assert "ml.g5.2xlarge for endpoint usage" in found.detail


# --- running and rendering ------------------------------------------------------------------------

def test_render_prints_one_line_per_check_and_the_fixes():
    checks = [ok("credentials", "arn"), warn("lambda runtime", "soon", "move"), fail("endpoint quota", "0", "request")]
    lines = render(checks).splitlines()
    assert len(lines) == 4 and lines[0].startswith("ok ") and lines[1].startswith("WARN")
    assert lines[2].startswith("FAIL") and lines[2].endswith("-> fix: request") and "1 check(s) failed" in lines[3]
    assert json.loads(render(checks, "json")) == {"ok": False, "checks": [
        {"name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix} for c in checks]}
    assert failed(checks) and not failed(checks[:2])
    assert render([ok("a", "b")]).endswith("Ready: every check passed.")


def test_a_check_that_raises_is_a_failed_line():
    def broken(_):
        raise RuntimeError("boom\nsecond line")

    found = guarded("x", broken, None)
    assert found == Check("x", "fail", "RuntimeError: boom second line", found.fix) and found.fix


class _NoRegion:
    region_name = None


def test_without_a_region_only_the_credentials_line():
    [only] = run(_NoRegion(), "s")
    assert only.name == "credentials" and only.status == "fail" and "AWS_DEFAULT_REGION" in only.fix
