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
- every AWS call the Lambdas (and the serving container, the pipeline's jobs) make is allowed:
  `calls()` maps each to its IAM action and resource, so removing a needed permission fails here,
  and a new call in the code fails until it is added."""
import re

import botocore.session
import pytest
from botocore import xform_name

from loraplane.emulator.deploy import expand
from loraplane_core import endpoint_names as names
from loraplane_core.deployment import scaling

from .conftest import LONGEST
from .iam import (
    ACCOUNT, PARTITION, REPO, Resolver, allowed, arn, as_list, document_statements, function_roles,
    identity_policies, load, relevant, resource_types, role_statements,
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


PREFIXES = ["adapters/", "artifacts/", "base-models/", "image-sources/", "live/", "pipeline-inputs/", "pipeline-runs/"]
# (role, prefix, action): everything else is refused.
S3_WRITES = {
    ("ValidateAdapterFunctionRole", "artifacts/", "s3:PutObject"),  # the content-addressed serving artifact
    ("DeployAdapterFunctionRole", "live/", "s3:PutObject"), ("DeployAdapterFunctionRole", "live/", "s3:DeleteObject"),
    ("DeployBaseFunctionRole", "live/", "s3:PutObject"), ("DeployBaseFunctionRole", "live/", "s3:DeleteObject"),
    ("PipelineJobRole", "pipeline-runs/", "s3:PutObject"), ("PipelineJobRole", "adapters/", "s3:PutObject"),
}


def test_who_writes_under_each_prefix_of_the_adapter_bucket(roles, r):
    bucket = r.getatt("AdapterBucket", "Arn")
    found = {(role, prefix, action) for role, statements in roles.items() for prefix in PREFIXES
             for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion")
             if allowed(statements, action, f"{bucket}/{prefix}some/key")}
    assert found == S3_WRITES


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
    assert checked == 5  # the topic, two queues, the adapter bucket; the templates bucket


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


# --- every call the code makes is allowed --------------------------------------------------------
SOURCES = ["layers/core/loraplane_core", "functions", "gpu_container/loraplane_serving", "training"]
SERVICES = ["sagemaker", "sagemaker-runtime", "s3", "dynamodb", "sns", "application-autoscaling", "stepfunctions",
            "cloudwatch"]
TRANSFER = {"upload_file", "download_file"}  # boto3's S3 transfer methods (PutObject, GetObject)
NOT_AWS_CALLS = {"search": "re.search and Pattern.search (SageMaker's Search is never called)"}


def operations_in_code() -> dict[str, set[str]]:
    """boto3 operations the code calls (attribute calls and references, paginators, waiters, names
    passed as strings), with the files calling them."""
    session = botocore.session.get_session()
    known = {xform_name(o) for s in SERVICES for o in session.get_service_model(s).operation_names} | TRANSFER
    found: dict[str, set[str]] = {}
    patterns = [(r"\.(\w+)\(", ""), (r"\.([a-z]+_\w+)\b", ""), (r"get_paginator\(\s*[\"'](\w+)[\"']", ""),
                (r"[\"']([a-z]+_\w+)[\"']", ""), (r"get_waiter\(\s*[\"'](\w+)[\"']", "waiter:")]
    for root in SOURCES:
        for path in sorted((REPO / root).rglob("*.py")):
            text = path.read_text()
            for regex, kind in patterns:
                for m in re.finditer(regex, text):
                    if kind or m.group(1) in known:
                        found.setdefault(kind + m.group(1), set()).add(str(path.relative_to(REPO)))
    return {op: files for op, files in found.items() if op not in NOT_AWS_CALLS}


def calls(r: Resolver, template: dict) -> list[tuple[str, str, str, str, dict]]:
    """(role, operation in the code, IAM action, resource, request context) for every AWS call of
    each function (and of the endpoint's container and the pipeline's jobs), for the longest names.
    Operations in parentheses are what AWS checks besides the call itself."""
    prefix = f"{LONGEST['SageMakerProjectName']}-{LONGEST['SageMakerProjectId']}"
    endpoint_name = r(template["Outputs"]["EndpointName"]["Value"])
    bucket, key = r.getatt("AdapterBucket", "Arn"), r.getatt("AdapterKey", "Arn")
    catalog, idempotency = r.getatt("CatalogTable", "Arn"), r.getatt("IdempotencyTable", "Arn")
    topic, deploy = r.ref("NotificationTopic"), r.ref("DeployStateMachine")
    execution_role = r.getatt("EndpointExecutionRole", "Arn")
    sha = "0" * 64

    def obj(k: str) -> str:
        return f"{bucket}/{k}"

    def sm(x: str) -> str:
        return arn("sagemaker", x)

    endpoint = sm(f"endpoint/{endpoint_name}")
    model = sm(f"model/{names.base_model_name(prefix, 12)}")
    configs = [sm(f"endpoint-config/{names.base_model_name(prefix, 12)}"),
               sm(f"endpoint-config/{names.components_config(prefix)}")]
    base_ic = sm(f"inference-component/{names.base_component(prefix)}")
    adapter_ic = sm(f"inference-component/{names.adapter_component(endpoint_name, 'support-bot')}")
    base_pkg, adapter_pkg = sm(f"model-package/{prefix}-base/3"), sm(f"model-package/{prefix}-adapters/7")
    tt_alarm = arn("cloudwatch", f"alarm:TargetTracking-endpoint/{endpoint_name}/variant/AllTraffic-AlarmHigh-0a1b2c")
    uuid = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    ic_tt_alarms = [arn("cloudwatch", f"alarm:TargetTracking-{scaling.component_resource(names.base_component(prefix))}"
                                      f"-{kind}-{uuid}") for kind in ("AlarmHigh", "AlarmLow")]
    from_zero_alarm = arn("cloudwatch", f"alarm:{scaling.from_zero_name(prefix)}")
    rollback_alarms = [r.getatt(k, "Arn") for k, x in template["Resources"].items()
                       if x["Type"] == "AWS::CloudWatch::Alarm"]
    pass_to_sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}

    kms = [("(SSE-KMS, encrypted topic)", "kms:Decrypt", key, {}),
           ("(SSE-KMS, encrypted topic)", "kms:GenerateDataKey", key, {})]
    catalog_reads = [("get_item", "dynamodb:GetItem", catalog, {}), ("query", "dynamodb:Query", catalog, {})]
    registry_reads = [("list_model_packages", "sagemaker:ListModelPackages", "*", {}),
                      ("describe_model_package", "sagemaker:DescribeModelPackage", base_pkg, {}),
                      ("describe_model_package", "sagemaker:DescribeModelPackage", adapter_pkg, {})]
    components = [("list_inference_components", "sagemaker:ListInferenceComponents", "*", {}),
                  ("describe_inference_component", "sagemaker:DescribeInferenceComponent", adapter_ic, {}),
                  ("describe_inference_component", "sagemaker:DescribeInferenceComponent", base_ic, {})]
    serving = components + [  # loraplane_core.deployment.serving_modes, both modes
        ("create_inference_component", "sagemaker:CreateInferenceComponent", adapter_ic, {}),
        ("create_inference_component", "sagemaker:CreateInferenceComponent", endpoint, {}),
        ("(Tags on create)", "sagemaker:AddTags", adapter_ic, {}),
        ("update_inference_component", "sagemaker:UpdateInferenceComponent", adapter_ic, {}),
        ("delete_inference_component", "sagemaker:DeleteInferenceComponent", adapter_ic, {}),
        ("describe_endpoint", "sagemaker:DescribeEndpoint", endpoint, {}),
        ("copy_object", "s3:GetObject", obj(f"artifacts/support-bot/{sha}/adapter.tar.gz"), {}),
        ("copy_object", "s3:PutObject", obj("live/support-bot/adapter.tar.gz"), {}),
        ("get_object", "s3:GetObject", obj("live/manifest.json"), {}),
        ("put_object", "s3:PutObject", obj("live/manifest.json"), {}),
        ("delete_object", "s3:DeleteObject", obj("live/support-bot/adapter.tar.gz"), {}),
        ("(NoSuchKey for a missing manifest)", "s3:ListBucket", bucket, {"s3:prefix": "live/"}),
    ]
    table = [
        ("ValidateAdapterFunction", [
            ("list_objects_v2", "s3:ListBucket", bucket, {"s3:prefix": "adapters/support-bot/"}),
            ("get_object", "s3:GetObject", obj("adapters/support-bot/adapter_model.safetensors"), {}),
            ("get_object", "s3:GetObject", obj("adapters/support-bot/training_metadata.json"), {}),
            ("get_object", "s3:GetObject", obj("base-models/llama/config.json"), {}),
            ("upload_file", "s3:PutObject", obj(f"artifacts/support-bot/{sha}/adapter.tar.gz"), {}),
            ("put_object", "s3:PutObject", obj(f"artifacts/support-bot/{sha}/training_metadata.json"), {}),
            ("list_model_packages", "sagemaker:ListModelPackages", "*", {}),
            ("describe_model_package", "sagemaker:DescribeModelPackage", base_pkg, {}),
            ("get_item", "dynamodb:GetItem", catalog, {}), *kms]),
        ("RegisterAdapterFunction", [
            ("create_model_package", "sagemaker:CreateModelPackage", adapter_pkg, {}),
            ("create_model_package", "sagemaker:CreateModelPackage", sm(f"model-package-group/{prefix}-adapters"), {}),
            ("describe_model_package", "sagemaker:DescribeModelPackage", adapter_pkg, {}),
            ("get_item", "dynamodb:GetItem", catalog, {}),
            *[("(Powertools idempotency)", f"dynamodb:{a}", idempotency, {})
              for a in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")], *kms]),
        ("RecordAdapterFunction", [("put_item", "dynamodb:PutItem", catalog, {}), *kms]),
        ("NotifyFunction", [("publish", "sns:Publish", topic, {}), *kms]),
        ("DetectTransitionFunction", [("put_item", "dynamodb:PutItem", catalog, {}),
                                      ("get_item", "dynamodb:GetItem", catalog, {}), *kms]),
        ("EndpointLockFunction", [("put_item", "dynamodb:PutItem", catalog, {}),
                                  ("delete_item", "dynamodb:DeleteItem", catalog, {}),
                                  ("get_item", "dynamodb:GetItem", catalog, {}), *kms]),
        ("DeployAdapterFunction", [*catalog_reads, *serving, *kms,
                                   ("describe_model_package", "sagemaker:DescribeModelPackage", adapter_pkg, {})]),
        ("DeployBaseFunction", [
            *catalog_reads, *registry_reads, *serving, *kms,
            ("put_item", "dynamodb:PutItem", catalog, {}), ("scan", "dynamodb:Scan", catalog, {}),
            ("update_item", "dynamodb:UpdateItem", catalog, {}),
            ("describe_model", "sagemaker:DescribeModel", model, {}),
            ("create_model", "sagemaker:CreateModel", model, {}),
            ("(Tags on create)", "sagemaker:AddTags", model, {}),
            ("(ExecutionRoleArn)", "iam:PassRole", execution_role, pass_to_sagemaker),
            *[("describe_endpoint_config", "sagemaker:DescribeEndpointConfig", c, {}) for c in configs],
            *[("create_endpoint_config", "sagemaker:CreateEndpointConfig", c, {}) for c in configs],
            *[(op, f"sagemaker:{a}", x, {}) for op, a in (("create_endpoint", "CreateEndpoint"),
                                                        ("update_endpoint", "UpdateEndpoint"))
              for x in (endpoint, *configs)],
            ("delete_endpoint", "sagemaker:DeleteEndpoint", endpoint, {}),
            ("waiter:endpoint_deleted", "sagemaker:DescribeEndpoint", endpoint, {}),
            ("create_inference_component", "sagemaker:CreateInferenceComponent", base_ic, {}),
            ("update_inference_component", "sagemaker:UpdateInferenceComponent", base_ic, {}),
            ("(AutoRollbackConfiguration)", "cloudwatch:DescribeAlarms", rollback_alarms[0], {}),
            ("(AutoRollbackConfiguration)", "cloudwatch:DescribeAlarms", rollback_alarms[1], {}),
            ("register_scalable_target", "application-autoscaling:RegisterScalableTarget", "*", {}),
            ("put_scaling_policy", "application-autoscaling:PutScalingPolicy", "*", {}),
            ("(first RegisterScalableTarget)", "iam:CreateServiceLinkedRole",
             f"arn:{PARTITION}:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
             "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
             {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}),
            *[("(Application Auto Scaling validates)", f"sagemaker:{a}", endpoint, {})
              for a in ("DescribeEndpoint", "UpdateEndpointWeightsAndCapacities")],
            *[("(target tracking alarms)", f"cloudwatch:{a}", x, {})
              for a in ("PutMetricAlarm", "DescribeAlarms", "DeleteAlarms") for x in (tt_alarm, *ic_tt_alarms)],
            *[("(Application Auto Scaling validates)", f"sagemaker:{a}", base_ic, {})
              for a in ("DescribeInferenceComponent", "UpdateInferenceComponentRuntimeConfig")],
            ("put_metric_alarm", "cloudwatch:PutMetricAlarm", from_zero_alarm, {}),
            ("(Tags on put_metric_alarm)", "cloudwatch:TagResource", from_zero_alarm, {})]),
        ("SmokeTestFunction", [("invoke_endpoint", "sagemaker:InvokeEndpoint", x, {})
                               for x in (endpoint, base_ic, adapter_ic)]),
        ("RecordDeploymentFunction", [*catalog_reads, ("put_item", "dynamodb:PutItem", catalog, {}),
                                      ("update_item", "dynamodb:UpdateItem", catalog, {}),
                                      ("publish", "sns:Publish", topic, {}), *kms]),
        ("ReconcileFunction", [
            *catalog_reads, *registry_reads, *components, *kms, ("scan", "dynamodb:Scan", catalog, {}),
            ("get_object", "s3:GetObject", obj("live/manifest.json"), {}),
            ("(NoSuchKey for a missing manifest)", "s3:ListBucket", bucket, {"s3:prefix": "live/"}),
            ("start_execution", "states:StartExecution", deploy, {}), ("publish", "sns:Publish", topic, {})]),
        ("CleanupEndpointFunction", [
            ("put_item", "dynamodb:PutItem", catalog, {}), *components,
            *[("delete_inference_component", "sagemaker:DeleteInferenceComponent", x, {})
              for x in (base_ic, adapter_ic)],
            *[(op, f"application-autoscaling:{xform_name(op, '_').title().replace('_', '')}", "*", {})
              for op in ("describe_scalable_targets", "describe_scaling_policies", "delete_scaling_policy",
                         "deregister_scalable_target")],
            ("describe_endpoint", "sagemaker:DescribeEndpoint", endpoint, {}),
            ("delete_endpoint", "sagemaker:DeleteEndpoint", endpoint, {}),
            ("list_endpoint_configs", "sagemaker:ListEndpointConfigs", "*", {}),
            *[("delete_endpoint_config", "sagemaker:DeleteEndpointConfig", c, {}) for c in configs],
            ("list_models", "sagemaker:ListModels", "*", {}),
            ("delete_model", "sagemaker:DeleteModel", model, {}),
            ("describe_alarms", "cloudwatch:DescribeAlarms", from_zero_alarm, {}),
            ("delete_alarms", "cloudwatch:DeleteAlarms", from_zero_alarm, {})]),
    ]
    roles = function_roles(template)
    out = [(roles[function], *call) for function, entries in table for call in entries]
    out += [("EndpointExecutionRole", *call) for call in [  # SageMaker hosting and the serving container
        ("(ModelDataSource S3Prefix)", "s3:ListBucket", bucket, {"s3:prefix": "base-models/llama/"}),
        ("(ModelDataSource S3Prefix)", "s3:GetObject", obj("base-models/llama/model.safetensors"), {}),
        ("(Container.ArtifactUrl)", "s3:GetObject", obj(f"artifacts/support-bot/{sha}/adapter.tar.gz"), {}),
        ("list_objects_v2", "s3:ListBucket", bucket, {"s3:prefix": "live/support-bot/"}),
        ("get_object", "s3:GetObject", obj("live/manifest.json"), {}),
        ("download_file", "s3:GetObject", obj("live/support-bot/adapter.tar.gz"), {}),
        ("(SSE-KMS)", "kms:Decrypt", key, {})]]
    out += [("PipelineJobRole", *call) for call in [  # training/ (the hand-off step) and the jobs' channels
        ("(S3Prefix channels)", "s3:ListBucket", bucket, {"s3:prefix": "pipeline-inputs/support-bot/abc/train/"}),
        ("(S3Prefix channels)", "s3:GetObject", obj("pipeline-inputs/support-bot/abc/train/train.jsonl"), {}),
        ("upload_file", "s3:PutObject", obj("adapters/support-bot/adapter_model.safetensors"), {}),
        ("put_object", "s3:PutObject", obj("adapters/support-bot/training_metadata.json"), {}),
        ("(SSE-KMS)", "kms:GenerateDataKey", key, {})]]
    repository = r.getatt("ServingImageRepository", "Arn")
    out += [("ImageBuildRole", *call) for call in [  # CodeBuild and the buildspec of ImageBuildProject
        ("(S3 source)", "s3:GetObject", obj(f"image-sources/{sha}.zip"), {}),
        ("(S3 source)", "s3:GetObjectVersion", obj(f"image-sources/{sha}.zip"), {}),
        ("(S3 source: the bucket's owner)", "s3:GetBucketAcl", bucket, {}),
        ("(S3 source: the bucket's owner)", "s3:GetBucketLocation", bucket, {}),
        ("(SSE-KMS)", "kms:Decrypt", key, {}),
        ("(aws ecr get-login-password)", "ecr:GetAuthorizationToken", "*", {}),
        *[("(docker pull of the base image)", f"ecr:{a}", arn("ecr", "repository/vllm").replace(ACCOUNT, "763104351884"), {})
          for a in ("BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability")],
        *[("(docker push)", f"ecr:{a}", repository, {})
          for a in ("BatchCheckLayerAvailability", "InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload",
                    "PutImage", "BatchGetImage")],
        *[("(build logs)", f"logs:{a}", r.getatt("ImageBuildLogGroup", "Arn").removesuffix(":*") + ":log-stream:abc", {})
          for a in ("CreateLogStream", "PutLogEvents")]]]
    return out


def test_every_call_of_the_code_is_allowed(expanded, r):
    roles = role_statements(expanded, r)
    refused = [f"{role}: {op} needs {action} on {resource} {context or ''}".strip()
               for role, op, action, resource, context in calls(r, expanded)
               if not allowed(roles[role], action, resource, context)]
    assert refused == []


def test_every_aws_operation_in_the_code_is_in_the_table(expanded, r):
    """A new boto3 call fails here until calls() says which role makes it and what it needs."""
    in_table = {op for _, op, *_ in calls(r, expanded)}
    unknown = {op: sorted(files) for op, files in operations_in_code().items() if op not in in_table}
    assert unknown == {}


def test_the_table_has_no_calls_the_code_no_longer_makes(expanded, r):
    in_code = operations_in_code()
    stale = {op for _, op, *_ in calls(r, expanded) if not op.startswith("(") and op not in in_code}
    assert stale == set()
