"""Least privilege of the stack's roles (template.yaml), as classes of defects:

- `Resource: "*"` only for actions without resource-level permissions (an explicit list, checked
  against the Service Authorization Reference cfn-lint ships), in both templates;
- every action named exists, and applies to some resource its statement names;
- every s3:ListBucket is limited to the prefixes the role reads;
- who may write or delete under each prefix of the adapter bucket is one table;
- no role writes the stack's own alarms;
- every SNS topic, SQS queue and S3 bucket refuses requests without TLS;
- nothing one project's roles may change belongs to another project, even one whose names
  start with this project's prefix (`ml` / `p-aaa` and `ml-p-aaa` / `p-bbb`);
- every AWS call the code makes is allowed: test_code_permissions.py."""
import pytest

from loraplane.emulator.deploy import expand
from loraplane_core import endpoint_names as names
from loraplane_core.deployment import scaling

from .conftest import LONGEST
from .iam import (
    ACCOUNT, REPO, Resolver, allowed, arn, as_list, document_statements, identity_policies, load, relevant,
    resource_types, role_statements,
)

# Actions that may be allowed on "*" although the reference gives them resource types, and why.
RESOURCE_STAR_EXCEPTIONS = {
    "application-autoscaling:RegisterScalableTarget": "scalable targets get generated ids: no ARN to name beforehand",
    "application-autoscaling:PutScalingPolicy": "scalable targets get generated ids: no ARN to name beforehand",
    "application-autoscaling:DeleteScalingPolicy": "scalable targets get generated ids: no ARN to name beforehand",
    "application-autoscaling:DeregisterScalableTarget": "scalable targets get generated ids: no ARN to name beforehand",
    "cloudwatch:PutMetricData": "metrics have no ARN (the reference's `dataset` type is CloudWatch datasets)",
    "cloudwatch:DescribeAlarms": "launch role only: CloudFormation's alarm handler lists alarms",
    "sagemaker:ListModelPackages": "a List call (summaries of one group); read only",
}


def stack_policies(expanded) -> dict[str, list[dict]]:
    org = load("project_template/template.yaml")
    return identity_policies(expanded, Resolver(expanded, dict(LONGEST))) | identity_policies(org, Resolver(org, {}))


def test_resource_star_only_for_actions_without_resource_level_permissions(expanded):
    star = {}
    for name, statements in stack_policies(expanded).items():
        for s in statements:
            if s["Effect"] == "Allow" and "*" in s["Resource"]:
                assert s["Resource"] == ["*"], f"{name} {s.get('Sid')}: '*' with other resources"
                for action in s["Action"]:
                    star.setdefault(action, []).append(name)
    assert star, "nothing on '*' at all? the test reads the wrong templates"
    unjustified = {a: where for a, where in star.items()
                   if resource_types(a) != [] and a not in RESOURCE_STAR_EXCEPTIONS}
    assert unjustified == {}, "scope these to ARNs, or list them with a reason in RESOURCE_STAR_EXCEPTIONS"
    assert all(len(reason) > 30 for reason in RESOURCE_STAR_EXCEPTIONS.values())
    assert set(RESOURCE_STAR_EXCEPTIONS) <= set(star), "stale exceptions"


POLICY_PROPERTIES = {"AWS::IAM::Role": "Policies", "AWS::IAM::ManagedPolicy": "PolicyDocument",
                     "AWS::S3::BucketPolicy": "PolicyDocument", "AWS::SQS::QueuePolicy": "PolicyDocument",
                     "AWS::SNS::TopicPolicy": "PolicyDocument", "AWS::KMS::Key": "KeyPolicy"}


def test_every_action_named_exists(expanded):
    """A misspelt action is silently allowed on nothing (or denied on nothing)."""
    org = load("project_template/template.yaml")
    unknown = set()
    for template in (expanded, org):
        for logical, x in template["Resources"].items():
            prop = POLICY_PROPERTIES.get(x["Type"])
            if not prop or prop not in x["Properties"]:
                continue
            props = x["Properties"]
            documents = [p["PolicyDocument"] for p in props[prop]] if prop == "Policies" else [props[prop]]
            documents += [props["AssumeRolePolicyDocument"]] if x["Type"] == "AWS::IAM::Role" else []
            unknown |= {f"{logical}: {a}" for d in documents for s in as_list(d["Statement"])
                        for a in as_list(s.get("Action", [])) if "*" not in a and resource_types(a) is None}
    assert unknown == set()


def test_every_action_applies_to_a_resource_its_statement_names(expanded):
    """An action listed with only ARNs of other types is allowed on nothing (a silent gap)."""
    dead = [f"{name} {s.get('Sid')}: {a}" for name, statements in stack_policies(expanded).items()
            for s in statements for a in s["Action"] if not any(relevant(a, r) for r in s["Resource"])]
    assert dead == []


@pytest.fixture(scope="module")
def roles(expanded) -> dict[str, list[dict]]:
    return role_statements(expanded, Resolver(expanded, dict(LONGEST)))


@pytest.fixture(scope="module")
def r(expanded) -> Resolver:
    return Resolver(expanded, dict(LONGEST))


def test_every_list_bucket_is_limited_to_prefixes(roles):
    found = 0
    for role, statements in roles.items():
        for s in statements:
            if s["Effect"] == "Allow" and "s3:ListBucket" in s["Action"]:
                prefixes = s.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
                assert prefixes and all(p.endswith("/*") and len(p) > 2 for p in as_list(prefixes)), \
                    f"{role} {s.get('Sid')}: s3:ListBucket of the whole bucket"
                found += 1
    assert found >= 5


PREFIXES = ["adapters/", "artifacts/", "base-models/", "image-sources/", "live/", "live/_instances/",
            "pipeline-inputs/", "pipeline-runs/"]
# (role, prefix, action): everything else is refused.
S3_WRITES = {
    ("ValidateAdapterFunctionRole", "artifacts/", "s3:PutObject"),  # the content-addressed serving artifact
    ("DeployAdapterFunctionRole", "live/", "s3:PutObject"), ("DeployAdapterFunctionRole", "live/", "s3:DeleteObject"),
    ("DeployBaseFunctionRole", "live/", "s3:PutObject"), ("DeployBaseFunctionRole", "live/", "s3:DeleteObject"),
    *[(role, "live/_instances/", action) for role in ("DeployAdapterFunctionRole", "DeployBaseFunctionRole")
      for action in ("s3:PutObject", "s3:DeleteObject")],  # under their live/*
    ("PipelineJobRole", "pipeline-runs/", "s3:PutObject"), ("PipelineJobRole", "adapters/", "s3:PutObject"),
}


def writers(roles: dict, r: Resolver, prefixes: list[str]) -> set[tuple[str, str, str]]:
    bucket = r.getatt("AdapterBucket", "Arn")
    return {(role, prefix, action) for role, statements in roles.items() for prefix in prefixes
            for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion")
            if allowed(statements, action, f"{bucket}/{prefix}some/key")}


def test_who_writes_under_each_prefix_of_the_adapter_bucket(roles, r):
    assert writers(roles, r, PREFIXES + ASYNC_PREFIXES) == S3_WRITES


ASYNC_PREFIXES = ["async/", "async/inputs/", "async/inputs/smoke/", "async/outputs/", "async/failures/"]
REPORT_WRITES = {("EndpointExecutionRole", "live/_instances/", "s3:PutObject")}  # on-demand, async: prefetch reports
ASYNC_WRITES = REPORT_WRITES | {  # ServingMode async adds: SageMaker's results, the smoke test's own requests
    ("EndpointExecutionRole", "async/outputs/", "s3:PutObject"),
    ("EndpointExecutionRole", "async/failures/", "s3:PutObject"),
    ("SmokeTestFunctionRole", "async/inputs/smoke/", "s3:PutObject"),
}


def test_who_writes_under_each_prefix_in_on_demand_mode():
    params = {**LONGEST, "ServingMode": "on-demand"}
    template = expand(REPO / "template.yaml", params)
    r = Resolver(template, params)
    assert writers(role_statements(template, r), r, PREFIXES + ASYNC_PREFIXES) == S3_WRITES | REPORT_WRITES


def test_who_writes_under_each_prefix_in_async_mode():
    params = {**LONGEST, "ServingMode": "async"}
    template = expand(REPO / "template.yaml", params)
    r = Resolver(template, params)
    assert writers(role_statements(template, r), r, PREFIXES + ASYNC_PREFIXES) == S3_WRITES | ASYNC_WRITES


def test_no_role_writes_the_stacks_own_alarms(roles, r, expanded):
    alarms = [r.getatt(k, "Arn") for k, x in expanded["Resources"].items() if x["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == 8  # two for automatic rollback (they notify too), six more that notify
    writers = {(role, a) for role, statements in roles.items() for a in alarms
               for action in ("cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms") if allowed(statements, action, a)}
    assert writers == set()
    # Target tracking (on-demand scaling) makes alarms of its own: Application Auto Scaling requires
    # that the caller of PutScalingPolicy may manage them - only those of this endpoint.
    endpoint = r(expanded["Outputs"]["EndpointName"]["Value"])
    own = arn("cloudwatch", f"alarm:TargetTracking-endpoint/{endpoint}/variant/AllTraffic-AlarmHigh-0a1b2c")
    other = arn("cloudwatch", f"alarm:TargetTracking-endpoint/{endpoint}2/variant/AllTraffic-AlarmHigh-0a1b2c")
    managers = {role for role, statements in roles.items() if allowed(statements, "cloudwatch:PutMetricAlarm", own)}
    assert managers == {"DeployBaseFunctionRole"}
    assert not any(allowed(s, "cloudwatch:PutMetricAlarm", other) for s in roles.values())


def resource_policies(template: dict, resolver: Resolver, kind: str, targets: str) -> dict[str, list[dict]]:
    """Target resource logical id -> the statements of the resource policies that name it."""
    out = {}
    for x in template["Resources"].values():
        if x["Type"] == kind:
            props = resolver(x["Properties"])
            for target in as_list(props[targets]):
                out.setdefault(target, []).extend(document_statements(props["PolicyDocument"]))
    return out


def refuses_without_tls(statements: list[dict], action: str, resource: str) -> bool:
    insecure = {"aws:SecureTransport": "false"}
    return any(s["Effect"] == "Deny" and s.get("Principal") in ("*", {"AWS": "*"})
               and allowed([{**s, "Effect": "Allow"}], action, resource, insecure)
               and not allowed([{**s, "Effect": "Allow"}], action, resource, {"aws:SecureTransport": "true"})
               for s in statements)


def test_every_topic_queue_and_bucket_refuses_requests_without_tls(expanded):
    org = load("project_template/template.yaml")
    checked = 0
    for template, resolver in ((expanded, Resolver(expanded, dict(LONGEST))), (org, Resolver(org, {}))):
        topics = resource_policies(template, resolver, "AWS::SNS::TopicPolicy", "Topics")
        queues = resource_policies(template, resolver, "AWS::SQS::QueuePolicy", "Queues")
        buckets = resource_policies(template, resolver, "AWS::S3::BucketPolicy", "Bucket")
        for logical, x in template["Resources"].items():
            if x["Type"] == "AWS::SNS::Topic":
                topic = resolver.ref(logical)
                assert all(refuses_without_tls(topics.get(topic, []), a, topic)
                           for a in ("sns:Publish", "sns:Subscribe")), logical
            elif x["Type"] == "AWS::SQS::Queue":
                url, queue_arn = resolver.ref(logical), resolver.getatt(logical, "Arn")
                assert all(refuses_without_tls(queues.get(url, []), a, queue_arn)
                           for a in ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage")), logical
            elif x["Type"] == "AWS::S3::Bucket":
                name, bucket_arn = resolver.ref(logical), resolver.getatt(logical, "Arn")
                assert refuses_without_tls(buckets.get(name, []), "s3:GetObject", f"{bucket_arn}/k"), logical
                assert refuses_without_tls(buckets.get(name, []), "s3:ListBucket", bucket_arn), logical
            else:
                continue
            checked += 1
    assert checked == 7  # the topic, ServingMode async's two, two queues, the adapter bucket; the templates bucket


# --- one project's permissions never reach another project ---------------------------------------
OWN = {"SageMakerProjectName": "ml", "SageMakerProjectId": "p-aaa"}
# Projects whose names all start with "ml-p-aaa-": the prefix of OWN's names.
NEIGHBOURS = [
    {"SageMakerProjectName": "ml-p-aaa", "SageMakerProjectId": "p-bbb"},
    {"SageMakerProjectName": "ml", "SageMakerProjectId": "p-aaa-base"},
    {"SageMakerProjectName": "ml-p-aaa-base", "SageMakerProjectId": "p-b"},
    {"SageMakerProjectName": "ml-p-aaa-base-1", "SageMakerProjectId": "p-c"},
    {"SageMakerProjectName": "ml", "SageMakerProjectId": "p-aaa-ic"},
    {"SageMakerProjectName": "ml-p-aaa-ic-config", "SageMakerProjectId": "p-d"},
    {"SageMakerProjectName": "ml-p-aaa-endpoint", "SageMakerProjectId": "p-e"},
    {"SageMakerProjectName": "ml-p-aaa-adapters", "SageMakerProjectId": "p-f"},
    {"SageMakerProjectName": "ml-p", "SageMakerProjectId": "aaa-x"},
    {"SageMakerProjectName": "ml", "SageMakerProjectId": "p-aaa-async"},
    {"SageMakerProjectName": "ml-p-aaa-async-1", "SageMakerProjectId": "p-g"},
]
VERSIONS = (1, 7, 12, 123, 1234, 12345, 123456, 1234567)
# Allowed on another project's resources, and why that reaches nothing of theirs.
CROSS_PROJECT_EXEMPT = {
    "sagemaker:DescribeInferenceComponent": "read only; adapter components are named <adapter>-<hash of the endpoint>",
    "sagemaker:CreateInferenceComponent": "also authorized on the endpoint, which must be this project's (below)",
    "sagemaker:InvokeEndpoint": "also authorized on the endpoint, which must be this project's (below)",
    # Pulls: the serving and training images may be any in this account (ServingImageUri, TrainingImage).
    "ecr:BatchGetImage": "read only: an image pull (pushes are scoped to the project's own repository)",
    "ecr:GetDownloadUrlForLayer": "read only: an image pull (pushes are scoped to the project's own repository)",
    "ecr:BatchCheckLayerAvailability": "read only: an image pull (pushes are scoped to the project's own repository)",
}


def stack_name(params: dict) -> str:
    return f"SC-{ACCOUNT}-pp-{params['SageMakerProjectId']}"


def project_resources(template: dict, params: dict) -> list[str]:
    """ARNs of what a project owns: its stack's resources and what its Lambdas create at run time."""
    r = Resolver(template, params, stack_name(params))
    out = [v for logical in template["Resources"] for v in r.physical(logical).values()
           if isinstance(v, str) and v.startswith("arn:")]
    prefix = f"{params['SageMakerProjectName']}-{params['SageMakerProjectId']}"
    endpoint = r(template["Outputs"]["EndpointName"]["Value"])
    bucket = r.getatt("AdapterBucket", "Arn")
    out += [f"{bucket}/{p}support-bot/file" for p in PREFIXES] + [bucket]
    sm = [f"model/{names.base_model_name(prefix, v)}" for v in VERSIONS]
    sm += [f"endpoint-config/{names.base_model_name(prefix, v)}" for v in VERSIONS]
    sm += [f"endpoint-config/{names.async_config(prefix, v)}" for v in VERSIONS]
    sm += [f"endpoint-config/{names.components_config(prefix)}", f"endpoint/{endpoint}",
           f"inference-component/{names.base_component(prefix)}",
           f"inference-component/{names.adapter_component(endpoint, 'support-bot')}",
           f"model-package/{prefix}-base/3", f"model-package/{prefix}-adapters/4",
           f"model-package-group/{prefix}-base", f"model-package-group/{prefix}-adapters",
           f"pipeline/{prefix}-train"]
    out += [arn("sagemaker", x) for x in sm]
    uuid = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    out += [arn("cloudwatch", f"alarm:TargetTracking-inference-component/{names.base_component(prefix)}-{k}-{uuid}")
            for k in ("AlarmHigh", "AlarmLow")] + [arn("cloudwatch", f"alarm:{prefix}-scale-from-zero")]
    out += [arn("cloudwatch", f"alarm:{scaling.adapter_alarm_name(prefix, names.adapter_component(endpoint, a))}")
            for a in ("support-bot", "x")]
    out += [arn("cloudwatch", f"alarm:TargetTracking-endpoint/{endpoint}/variant/AllTraffic-AlarmHigh-0a1b2c"),
            arn("logs", f"log-group:/aws/lambda/{prefix}-validate")]
    return out


def tags_of(params: dict) -> dict:
    tags = {"sagemaker:project-id": params["SageMakerProjectId"],
            "sagemaker:project-name": params["SageMakerProjectName"]}
    return {f"{p}:ResourceTag/{k}": v for p in ("aws", "iam") for k, v in tags.items()}


@pytest.fixture(scope="module")
def own_stack() -> dict:
    return expand(REPO / "template.yaml", dict(OWN))


@pytest.mark.parametrize("neighbour", NEIGHBOURS,
                         ids=lambda p: f"{p['SageMakerProjectName']}/{p['SageMakerProjectId']}")
def test_one_projects_roles_never_reach_another_projects_resources(own_stack, neighbour):
    prefix = f"{neighbour['SageMakerProjectName']}-{neighbour['SageMakerProjectId']}"
    assert prefix.startswith("ml-p-aaa-") or prefix == "ml-p-aaa"
    theirs = project_resources(own_stack, neighbour)
    mine = role_statements(own_stack, Resolver(own_stack, OWN, stack_name(OWN)))
    # Their resources carry their tags (components too, once the Lambdas tag them: see the docs).
    context = tags_of(neighbour) | {"iam:PassedToService": "sagemaker.amazonaws.com", "s3:prefix": "live/"}
    # Statements on "*" (test_resource_star_only_for_...) and the AWS managed policies aside:
    scoped = {role: [s for s in statements if not s.get("Managed") and s["Resource"] != ["*"]]
              for role, statements in mine.items()}
    reached = sorted({f"{role}: {action} on {target}"
                      for role, statements in scoped.items() for s in statements
                      for action in s["Action"] if action not in CROSS_PROJECT_EXEMPT
                      for target in theirs
                      if relevant(action, target) and allowed(statements, action, target, context)})
    assert reached == []
    endpoint = arn("sagemaker", f"endpoint/{prefix}-endpoint")
    for action in ("sagemaker:CreateInferenceComponent", "sagemaker:InvokeEndpoint"):
        assert not any(allowed(statements, action, endpoint, context) for statements in mine.values()), action


def test_components_of_this_project_stay_reachable(own_stack):
    """The tag condition refuses other projects' components, never this project's (tagged or not)."""
    r = Resolver(own_stack, OWN, stack_name(OWN))
    mine = role_statements(own_stack, r)
    endpoint = r(own_stack["Outputs"]["EndpointName"]["Value"])
    component = arn("sagemaker", f"inference-component/{names.adapter_component(endpoint, 'support-bot')}")
    for context in ({}, tags_of(OWN)):
        for role in ("DeployAdapterFunctionRole", "DeployBaseFunctionRole"):
            for action in ("sagemaker:UpdateInferenceComponent", "sagemaker:DeleteInferenceComponent",
                           "sagemaker:AddTags"):
                assert allowed(mine[role], action, component, context), (role, action, context)
        assert allowed(mine["CleanupEndpointFunctionRole"], "sagemaker:DeleteInferenceComponent", component, context)
