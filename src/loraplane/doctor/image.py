"""Check 3: the serving image is in ECR and the endpoint role can pull it.

SageMaker hosting pulls from private ECR in the endpoint's own region (`ContainerDefinition.Image`,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html): ECR Public
and other registries are refused. An empty `ServingImageUri` means the stack's own repository
(output `ServingImageRepositoryUri`, tag `latest`, built by `loraplane image build`)."""
import fnmatch
import json
import re
from dataclasses import dataclass

from .result import Check, StackFacts, error_code, fail, is_access_denied, ok, warn

NAME = "serving image"
PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
BUILD = "run `loraplane image build`"
# ECR's own rules (CreateRepository, PutImage): repository names, tags and digests.
_HOST = re.compile(r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)"
                   r"\.amazonaws\.com(?:\.cn)?")
_REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")


@dataclass(frozen=True)
class ImageRef:
    account: str
    region: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def image_id(self) -> dict:
        return {"imageDigest": self.digest} if self.digest else {"imageTag": self.tag or "latest"}

    def repository_arn(self, partition: str = "aws") -> str:
        return f"arn:{partition}:ecr:{self.region}:{self.account}:repository/{self.repository}"


@dataclass(frozen=True)
class Rejection:
    reason: str  # empty | malformed | no-registry | ecr-public | not-ecr | bad-repository | bad-tag | bad-digest
    message: str


def parse(uri) -> ImageRef | Rejection:
    """A private ECR image URI (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@sha256:...]`),
    or why it is not one. Never raises."""
    if not isinstance(uri, str) or not uri.strip():
        return Rejection("empty", "no image URI")
    if any(c.isspace() or not c.isprintable() for c in uri):
        return Rejection("malformed", "the URI contains spaces or control characters")
    if "/" not in uri:
        return Rejection("no-registry",
                         "no registry host: SageMaker needs <account>.dkr.ecr.<region>.amazonaws.com/<repo>")
    host, rest = uri.split("/", 1)
    found = _HOST.fullmatch(host)
    if found is None:
        if host == "public.ecr.aws":
            return Rejection("ecr-public", "an ECR Public image: SageMaker hosting pulls from private ECR only")
        return Rejection("not-ecr",
                         f"registry {host} is not private ECR: SageMaker hosting pulls from private ECR only")
    tag = digest = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            return Rejection("bad-digest", f"digest {digest!r} is not sha256:<64 hex digits>")
    elif ":" in rest.rsplit("/", 1)[-1]:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            return Rejection("bad-tag", f"tag {tag!r} is not a valid image tag")
    if not (2 <= len(rest) <= 256 and _REPOSITORY.fullmatch(rest)):
        return Rejection("bad-repository", f"repository {rest!r} is not a valid ECR repository name")
    return ImageRef(found["account"], found["region"], rest, tag, digest)


def serving_image(parameter: str, outputs: dict[str, str]) -> tuple[str | None, bool]:
    """(the URI the endpoint will pull, whether it is the stack's own repository)."""
    if parameter and parameter.strip():
        return parameter.strip(), False
    repository = outputs.get("ServingImageRepositoryUri")
    return (f"{repository}:latest" if repository else None), True


def _listed(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _principal_matches(principal, arn: str, account: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    named = _listed(principal.get("AWS"))
    return "*" in named or arn in named or account in named or any(p.endswith(f":iam::{account}:root") for p in named)


def _covers(statement: dict, action: str, resource: str | None, principal: tuple[str, str] | None) -> bool:
    actions = [a.lower() for a in _listed(statement.get("Action"))]
    if not any(fnmatch.fnmatchcase(action.lower(), a) for a in actions):
        return False
    resources = _listed(statement.get("Resource"))  # none: a resource policy (the repository's own)
    if resource is not None and resources and not any(fnmatch.fnmatchcase(resource, r) for r in resources):
        return False
    return principal is None or _principal_matches(statement.get("Principal"), *principal)


def allows(policies: list[dict], action: str, resource: str | None = None,
           principal: tuple[str, str] | None = None) -> bool:
    """Whether these policy documents allow `action` (and no statement denies it). Conditions are not
    evaluated: a conditional Allow counts, which may be optimistic. `principal` (role arn, account)
    for resource policies."""
    statements = [s for p in policies for s in _listed(p.get("Statement"))]
    hits = [s.get("Effect") for s in statements if isinstance(s, dict) and _covers(s, action, resource, principal)]
    return "Allow" in hits and "Deny" not in hits


def pull_policy(role_arn: str) -> str:
    """The repository policy statement a cross-account endpoint role needs (one line, for the fix)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "SageMakerPull", "Effect": "Allow",
                       "Principal": {"AWS": role_arn}, "Action": list(PULL_ACTIONS)}]}, separators=(",", ":"))


def _role_policies(iam, role_name: str) -> list[dict]:
    docs = [iam.get_role_policy(RoleName=role_name, PolicyName=n)["PolicyDocument"]
            for n in iam.list_role_policies(RoleName=role_name)["PolicyNames"]]
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        found = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)
        docs.append(found["PolicyVersion"]["Document"])
    return [json.loads(d) if isinstance(d, str) else d for d in docs]


def check(facts: StackFacts) -> Check:
    uri, own = serving_image(facts.params.get("ServingImageUri", ""), facts.outputs)
    if uri is None:
        return fail(NAME, "ServingImageUri is empty and the stack has no ServingImageRepositoryUri output", BUILD)
    where = "the stack's own repository" if own else "parameter ServingImageUri"
    ref = parse(uri)
    if isinstance(ref, Rejection):
        return fail(NAME, f"{uri} ({where}): {ref.message}",
                    f"push the image to ECR in {facts.region} and deploy with ServingImageUri=<that URI>, "
                    f"or deploy with ServingImageUri='' and {BUILD}")
    if ref.region != facts.region:
        return fail(NAME, f"{uri} is in {ref.region}; SageMaker pulls from ECR in the endpoint's region only "
                    f"({facts.region})",
                    f"replicate or push the image to ECR in {facts.region} and deploy with that URI")
    push = BUILD if own else f"push it: docker push {uri}"
    try:
        facts.client("ecr", ref.region).describe_images(registryId=ref.account, repositoryName=ref.repository,
                                                        imageIds=[ref.image_id])
    except Exception as exc:  # every refusal becomes one line; anything else, run.guarded's
        code = error_code(exc)
        if code == "RepositoryNotFoundException":
            return fail(NAME, f"repository {ref.repository} not found in account {ref.account} ({ref.region})",
                        BUILD if own else
                        f"aws ecr create-repository --repository-name {ref.repository}, then docker push {uri}")
        if code == "ImageNotFoundException":
            return fail(NAME, f"{uri} not found in ECR", push)
        if is_access_denied(exc):
            return fail(NAME, f"you may not describe images in {ref.repository_arn(facts.partition)}",
                        "allow ecr:DescribeImages on it to your identity "
                        "(and ask its account to allow it in the repository policy)")
        raise
    return _pullable(facts, ref, uri, where)


def _pullable(facts: StackFacts, ref: ImageRef, uri: str, where: str) -> Check:
    role_name = facts.physical("EndpointExecutionRole")
    if not role_name:
        return warn(NAME, f"{uri} ({where}) is in ECR; the stack has no EndpointExecutionRole to check",
                    "deploy the current template: sam build && sam deploy")
    iam = facts.client("iam")
    role_arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    repo_arn = ref.repository_arn(facts.partition)
    policies = _role_policies(iam, role_name)
    missing = [a for a in PULL_ACTIONS if not allows(policies, a, repo_arn)]
    if not allows(policies, "ecr:GetAuthorizationToken", "*"):
        missing.append("ecr:GetAuthorizationToken (on *)")
    if missing:
        return fail(NAME, f"the endpoint role {role_name} may not {', '.join(missing)} on {repo_arn}",
                    f"push the image to ECR in account {facts.account} ({facts.region}), or grant those actions "
                    "to EndpointExecutionRole in template.yaml and redeploy")
    if ref.account != facts.account:
        fix = (f"aws ecr set-repository-policy --registry-id {ref.account} --repository-name {ref.repository} "
               f"--policy-text '{pull_policy(role_arn)}'")
        try:
            text = facts.client("ecr", ref.region).get_repository_policy(
                registryId=ref.account, repositoryName=ref.repository)["policyText"]
        except Exception as exc:
            if error_code(exc) == "RepositoryPolicyNotFoundException":
                return fail(NAME, f"{ref.repository} in account {ref.account} has no policy for {role_arn}", fix)
            if is_access_denied(exc):
                return warn(NAME, f"could not read the repository policy of {repo_arn}",
                            f"make sure it allows {role_arn} {', '.join(PULL_ACTIONS)}")
            raise
        if not all(allows([json.loads(text)], a, None, (role_arn, facts.account)) for a in PULL_ACTIONS):
            return fail(NAME, f"the repository policy of {repo_arn} does not let {role_arn} pull", fix)
    return ok(NAME, f"{uri} ({where}) is in ECR and {role_name} may pull it")
