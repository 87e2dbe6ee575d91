"""No privilege escalation through the launch role (project_template/template.yaml).

Whoever can launch a project acts through the launch role, which creates the stack's IAM roles.
So: every role it creates or changes must carry the organisation's permissions boundary
(`ProjectRoleBoundary`), which it can neither remove nor change; roles get only stack-generated
names; they are passed only to the services the stack hands them to. And the stack
(template.yaml) declares that boundary on every role when deployed as a project
(`PermissionsBoundaryArn`), while the boundary holds every permission the stack needs."""
import re
from functools import cache

import pytest

from loraplane.emulator.deploy import expand

from .conftest import LONGEST
from .iam import (
    ACCOUNT, REPO, STACK, Resolver, allowed, arn, as_list, covers, document_statements, function_roles,
    identity_policies, load, role_statements,
)

ORG_TEMPLATE = "project_template/template.yaml"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
LAMBDA_LOGS = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
PROJECT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-DeployBaseFunctionRole-1A2B3C4D5E6F"
PROJECT_TAGS = {"sagemaker:project-id": LONGEST["SageMakerProjectId"],
                "sagemaker:project-name": LONGEST["SageMakerProjectName"]}
# What any project resource is known to carry (CloudFormation propagates the stack's tags).
RESOURCE_TAGS = {f"{prefix}:ResourceTag/{k}": v for prefix in ("aws", "iam") for k, v in PROJECT_TAGS.items()}
REQUEST_TAGS = {f"aws:RequestTag/{k}": v for k, v in PROJECT_TAGS.items()} | {"aws:TagKeys": list(PROJECT_TAGS)}


@cache
def org() -> tuple[dict, Resolver]:
    template = load(ORG_TEMPLATE)
    return template, Resolver(template, {})


def boundary_arn() -> str:
    template, resolver = org()
    assert template["Resources"]["ProjectRoleBoundary"]["Type"] == "AWS::IAM::ManagedPolicy"
    return resolver.ref("ProjectRoleBoundary")


def launch_policies() -> list[dict]:
    """The launch role's permissions: two managed policies (IAM caps each at 6,144 characters)."""
    return policy("LaunchPolicy") + policy("LaunchServicesPolicy")


def policy(logical: str) -> list[dict]:
    template, resolver = org()
    return document_statements(resolver(template["Resources"][logical]["Properties"]["PolicyDocument"]))


@pytest.fixture(scope="module")
def published() -> dict:
    """The stack as a project gets it: the longest names, the boundary parameter set."""
    return expand(REPO / "template.yaml", {**LONGEST, "PermissionsBoundaryArn": boundary_arn()})


def test_the_boundary_is_a_managed_policy_of_the_organisation_stack_and_an_output():
    template, resolver = org()
    assert resolver(template["Outputs"]["PermissionsBoundaryArn"]["Value"]) == boundary_arn()
    assert re.fullmatch(rf"arn:aws:iam::{ACCOUNT}:policy/[\w+=,.@-]+", boundary_arn())


def test_the_stack_declares_the_boundary_parameter():
    param = load("template.yaml")["Parameters"]["PermissionsBoundaryArn"]
    assert param["Type"] == "String" and param["Default"] == ""  # `sam deploy` on its own: no boundary
    pattern = re.compile(param["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch(boundary_arn())
    assert pattern.fullmatch("arn:aws-cn:iam::123456789012:policy/org/Boundary")
    assert not pattern.fullmatch("arn:aws:iam::123456789012:role/Admin")
    assert not pattern.fullmatch("AdministratorAccess")


def test_every_role_of_the_stack_carries_the_boundary_when_set(published):
    roles = {k: r for k, r in published["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert len(roles) >= 15  # functions, state machines, their rules, endpoint, pipeline
    with_boundary = Resolver(published, {**LONGEST, "PermissionsBoundaryArn": boundary_arn()})
    without = Resolver(published, dict(LONGEST))
    wrong = {k: with_boundary(r["Properties"]).get("PermissionsBoundary") for k, r in roles.items()}
    assert {k: v for k, v in wrong.items() if v != boundary_arn()} == {}
    assert {k for k, r in roles.items() if "PermissionsBoundary" in without(r["Properties"])} == set()


def create_role_context(properties: dict) -> dict:
    tags = {t["Key"]: t["Value"] for t in properties.get("Tags", [])}
    ctx = {f"aws:RequestTag/{k}": v for k, v in tags.items()} | {"aws:TagKeys": list(tags)}
    if "PermissionsBoundary" in properties:
        ctx["iam:PermissionsBoundary"] = properties["PermissionsBoundary"]
    return ctx


def test_the_launch_role_creates_every_role_of_the_stack_only_with_the_boundary(published):
    launch = launch_policies()
    for params, expected in (({"PermissionsBoundaryArn": boundary_arn()}, True), ({}, False)):
        resolver = Resolver(published, {**LONGEST, **params})
        for logical, r in published["Resources"].items():
            if r["Type"] != "AWS::IAM::Role":
                continue
            props = resolver(r["Properties"])
            role_arn = resolver.getatt(logical, "Arn")
            context = create_role_context(props)
            assert allowed(launch, "iam:CreateRole", role_arn, context) is expected, (logical, params)
            if expected:
                assert allowed(launch, "iam:TagRole", role_arn, create_role_context(props)), logical
                for document in props.get("Policies", []):
                    assert allowed(launch, "iam:PutRolePolicy", role_arn,
                                   RESOURCE_TAGS | {"iam:PermissionsBoundary": boundary_arn()}), logical
                for managed in props.get("ManagedPolicyArns", []):
                    assert allowed(launch, "iam:AttachRolePolicy", role_arn, RESOURCE_TAGS | {
                        "iam:PermissionsBoundary": boundary_arn(), "iam:PolicyARN": managed}), (logical, managed)


def with_boundary(arn: str | None = None) -> dict:
    return {"iam:PermissionsBoundary": arn or boundary_arn()}


ROLE_REQUESTS = [
    # (what, action, resource, context, allowed)
    ("a project role, with the boundary", "iam:CreateRole", PROJECT_ROLE, lambda: REQUEST_TAGS | with_boundary(), True),
    ("without a boundary", "iam:CreateRole", PROJECT_ROLE, lambda: REQUEST_TAGS, False),
    ("with another boundary", "iam:CreateRole", PROJECT_ROLE, lambda: REQUEST_TAGS | with_boundary(ADMIN), False),
    ("without the project tag", "iam:CreateRole", PROJECT_ROLE, lambda: with_boundary(), False),
    ("named outside the project stacks", "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/Admin",
     lambda: REQUEST_TAGS | with_boundary(), False),
    ("an inline policy, with the boundary", "iam:PutRolePolicy", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | with_boundary(), True),
    ("an inline policy on a role without it", "iam:PutRolePolicy", PROJECT_ROLE, lambda: RESOURCE_TAGS, False),
    ("an inline policy on a role with another", "iam:PutRolePolicy", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | with_boundary(ADMIN), False),
    ("an inline policy on another role", "iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/Admin",
     lambda: with_boundary(), False),
    ("AWSLambdaBasicExecutionRole, with the boundary", "iam:AttachRolePolicy", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | with_boundary() | {"iam:PolicyARN": LAMBDA_LOGS}, True),
    ("AWSLambdaBasicExecutionRole, without it", "iam:AttachRolePolicy", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | {"iam:PolicyARN": LAMBDA_LOGS}, False),
    ("AdministratorAccess", "iam:AttachRolePolicy", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | with_boundary() | {"iam:PolicyARN": ADMIN}, False),
    ("setting the boundary", "iam:PutRolePermissionsBoundary", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | with_boundary(), True),
    ("setting another boundary", "iam:PutRolePermissionsBoundary", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | with_boundary(ADMIN), False),
    ("removing the boundary", "iam:DeleteRolePermissionsBoundary", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | with_boundary(), False),
    ("passing a project role to Lambda", "iam:PassRole", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | {"iam:PassedToService": "lambda.amazonaws.com"}, True),
    ("passing a project role to SageMaker", "iam:PassRole", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | {"iam:PassedToService": "sagemaker.amazonaws.com"}, True),
    ("passing a project role to EC2", "iam:PassRole", PROJECT_ROLE,
     lambda: RESOURCE_TAGS | {"iam:PassedToService": "ec2.amazonaws.com"}, False),
    ("passing it to a service left unnamed", "iam:PassRole", PROJECT_ROLE, lambda: RESOURCE_TAGS, False),
    ("passing another role", "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin",
     lambda: {"iam:PassedToService": "lambda.amazonaws.com"}, False),
]


@pytest.mark.parametrize("what,action,resource,context,expected", ROLE_REQUESTS, ids=[r[0] for r in ROLE_REQUESTS])
def test_the_launch_role_changes_roles_only_within_the_boundary(what, action, resource, context, expected):
    assert allowed(launch_policies(), action, resource, context()) is expected


@pytest.mark.parametrize("action,resource", [
    ("iam:DeleteRolePermissionsBoundary", PROJECT_ROLE),
    ("iam:DeleteRolePermissionsBoundary", f"arn:aws:iam::{ACCOUNT}:role/anything"),
    ("iam:CreatePolicyVersion", "boundary"), ("iam:SetDefaultPolicyVersion", "boundary"),
    ("iam:DeletePolicyVersion", "boundary"), ("iam:DeletePolicy", "boundary"),
])
def test_the_boundary_stays_even_where_the_launch_policy_joins_broader_ones(action, resource):
    """SageMaker's S3 templates route attaches LaunchPolicy to a role with policies of its own."""
    broad = [{"Effect": "Allow", "Action": ["iam:*"], "Resource": ["*"]}]
    resource = boundary_arn() if resource == "boundary" else resource
    assert allowed(broad, action, resource)
    assert not allowed(launch_policies() + broad, action, resource, RESOURCE_TAGS | with_boundary())


def pass_role_statements(statements: list[dict]) -> list[dict]:
    return [s for s in statements if s["Effect"] == "Allow" and any(a.lower() == "iam:passrole" for a in s["Action"])]


def test_every_pass_role_names_the_services_it_passes_to(expanded):
    template, resolver = org()
    policies = identity_policies(template, resolver) | identity_policies(expanded, Resolver(expanded, dict(LONGEST)))
    checked = 0
    for name, statements in policies.items():
        for s in pass_role_statements(statements):
            services = [v for tests in s.get("Condition", {}).values()
                        for k, v in tests.items() if k == "iam:PassedToService"]
            assert services and "*" not in str(services), f"{name}: iam:PassRole without iam:PassedToService"
            assert "*" not in s["Resource"], f"{name}: iam:PassRole on any role"
            checked += 1
    assert checked >= 4  # launch role, boundary, DeployBaseFunction, PipelineExecutionRole


@pytest.mark.parametrize("serving_mode", ["inference-components", "async"])
def test_the_boundary_holds_every_permission_of_the_stack(serving_mode):
    """Whatever a role's policies allow on the stack's resources (for the longest project names),
    the boundary allows too - else that call fails in a project. AWSLambdaBasicExecutionRole
    allows logs on "*"; a function writes only to its own log group. ServingMode async has
    statements of its own (its condition)."""
    boundary = policy("ProjectRoleBoundary")
    params = {**LONGEST, "PermissionsBoundaryArn": boundary_arn(), "ServingMode": serving_mode}
    published = expand(REPO / "template.yaml", params)
    resolver = Resolver(published, params)
    log_groups = {role: [arn("logs", f"log-group:/aws/lambda/{resolver.ref(function)}"),
                         arn("logs", f"log-group:/aws/lambda/{resolver.ref(function)}:log-stream:2025/01/01/abc")]
                  for function, role in function_roles(published).items()}
    outside = {}
    for role, statements in role_statements(published, resolver).items():
        for s in statements:
            if s.get("Managed", "").endswith("/AWSLambdaBasicExecutionRole"):
                s = {**s, "Resource": log_groups[role]}
            outside.setdefault(role, []).extend(covers(boundary, s, RESOURCE_TAGS) if s["Effect"] == "Allow" else [])
    assert {role: missing for role, missing in outside.items() if missing} == {}
    assert len(outside) >= 15


def test_the_boundary_fits_iams_size_limit():
    """A permissions boundary is one managed policy: at most 6,144 characters, whitespace aside
    (IAM quotas), for this test's 14-character region."""
    import json

    assert len(json.dumps({"Version": "2012-10-17", "Statement": policy("ProjectRoleBoundary")},
                          separators=(",", ":"))) <= 6144


def test_the_boundary_grants_nothing_that_reaches_outside_projects():
    boundary = policy("ProjectRoleBoundary")
    for s in boundary:
        assert s["Effect"] == "Allow"
        for action in s["Action"]:
            assert "*" not in action, action
            service = action.split(":")[0]
            assert service not in ("sts", "organizations", "account"), action
            if service == "iam":
                assert action in ("iam:PassRole", "iam:CreateServiceLinkedRole"), action
                assert s.get("Condition"), f"{action} without a condition"
    refused = [
        ("s3:GetObject", "arn:aws:s3:::company-data/payroll.csv", {}),
        ("s3:PutObject", f"arn:aws:s3:::loraplane-templates-{ACCOUNT}-ap-southeast-2/artifacts/x.zip", {}),
        ("dynamodb:Scan", f"arn:aws:dynamodb:ap-southeast-2:{ACCOUNT}:table/orders", {}),
        ("kms:Decrypt", f"arn:aws:kms:ap-southeast-2:{ACCOUNT}:key/other", {"aws:ResourceTag/team": "finance"}),
        ("lambda:InvokeFunction", f"arn:aws:lambda:ap-southeast-2:{ACCOUNT}:function:billing", {}),
        ("sagemaker:DeleteEndpoint", f"arn:aws:sagemaker:ap-southeast-2:{ACCOUNT}:endpoint/prod-fraud", {}),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin", {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ("iam:PassRole", PROJECT_ROLE, RESOURCE_TAGS | {"iam:PassedToService": "lambda.amazonaws.com"}),
        ("iam:CreateRole", PROJECT_ROLE, REQUEST_TAGS), ("iam:PutRolePolicy", PROJECT_ROLE, RESOURCE_TAGS),
        ("iam:AttachRolePolicy", PROJECT_ROLE, RESOURCE_TAGS), ("sts:AssumeRole", PROJECT_ROLE, {}),
    ]
    assert [r[:2] for r in refused if allowed(boundary, *r)] == []


def test_the_launch_policy_never_allows_role_writes_without_a_boundary_condition():
    """However its statements are split, every Allow of CreateRole, PutRolePolicy, AttachRolePolicy
    or PutRolePermissionsBoundary names the boundary."""
    checked = 0
    for s in launch_policies():
        writes = {a for a in s["Action"]} & {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
                                              "iam:PutRolePermissionsBoundary"}
        if s["Effect"] != "Allow" or not writes:
            continue
        assert s["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == boundary_arn(), s.get("Sid")
        assert all(r.startswith(f"arn:aws:iam::{ACCOUNT}:role/SC-") for r in as_list(s["Resource"])), s.get("Sid")
        checked += len(writes)
    assert checked == 4
