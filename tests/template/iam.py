"""IAM for the template tests: both templates' policies with their intrinsic functions resolved for
given parameters, and a small evaluator of identity policies - Allow and Deny, `*` and `?` in
actions and ARNs, and the condition operators the templates use (any other fails loudly).

It answers "does this policy allow this action on this ARN, in this request context?" the way IAM
does for a single identity policy; it knows nothing of resource policies, SCPs or sessions."""
import fnmatch
import hashlib
import json
import re
from functools import cache
from pathlib import Path

import cfnlint
from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[2]
ACCOUNT, REGION, PARTITION = "123456789012", "ap-southeast-2", "aws"
STACK = f"SC-{ACCOUNT}-pp-abcdefghijklm"  # Service Catalog names project stacks SC-<account>-pp-<id>
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
          "AWS::URLSuffix": "amazonaws.com"}
NO_VALUE = object()

# What the AWS managed policies SAM attaches allow (the launch role may attach only these).
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole":
        [("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess":
        [("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
          "xray:GetSamplingStatisticSummaries")],
}


def load(path: str) -> dict:
    """A template as written (CloudFormation's short tags understood)."""
    return yaml_parse((REPO / path).read_text())


def as_list(x) -> list:
    return x if isinstance(x, list) else [x]


def arn(service: str, rest: str) -> str:
    return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT}:{rest}"


class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join and conditions for given parameters; the
    physical names of resources are what CloudFormation would make of their name properties (generated
    ones, role names and key ids, differ per `stack`)."""

    def __init__(self, template: dict, params: dict[str, str], stack: str = STACK):
        self.template, self.stack = template, stack
        self.key_id = hashlib.sha256(stack.encode()).hexdigest()[:8] + "-12ab-34cd-56ef-1234567890ab"
        defaults = {k: str(p.get("Default", "")) for k, p in template.get("Parameters", {}).items()}
        self.params = defaults | params

    def __call__(self, value):
        if isinstance(value, list):
            return [v for v in (self(x) for x in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                return self.getatt(*(arg if isinstance(arg, list) else arg.split(".", 1)))
            if fn == "Fn::Sub":
                return self.sub(arg)
            if fn == "Fn::If":
                return self(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::Join":
                return arg[0].join(self(arg[1]))
            assert not fn.startswith("Fn::"), f"unsupported intrinsic {fn}"
        return {k: v for k, v in ((k, self(x)) for k, x in value.items()) if v is not NO_VALUE}

    def condition(self, name: str) -> bool:
        return self.holds(self.template["Conditions"][name])

    def holds(self, expr) -> bool:
        (fn, arg), = expr.items()
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Not":
            return not self.holds(arg[0])
        if fn == "Fn::Equals":
            return self(arg[0]) == self(arg[1])
        if fn == "Fn::And":
            return all(self.holds(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.holds(a) for a in arg)
        raise AssertionError(f"unsupported condition function {fn}")

    def ref(self, name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::StackName":
            return self.stack
        if name in self.params:
            return self.params[name]
        return self.physical(name)["Ref"]

    def getatt(self, name: str, attribute: str):
        return self.physical(name)[attribute]

    def sub(self, arg) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg

        def one(m: re.Match) -> str:
            key = m.group(1)
            if key in variables:
                return str(self(variables[key]))
            return str(self.getatt(*key.split(".", 1)) if "." in key else self.ref(key))
        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def physical(self, logical: str) -> dict:
        resource = self.template["Resources"][logical]
        kind, props = resource["Type"], resource.get("Properties", {})

        def name(prop: str, generated: str = "") -> str:
            return self(props[prop]) if prop in props else generated

        if kind == "AWS::S3::Bucket":
            n = name("BucketName")
            return {"Ref": n, "Arn": f"arn:{PARTITION}:s3:::{n}"}
        if kind == "AWS::DynamoDB::Table":
            n = name("TableName")
            return {"Ref": n, "Arn": arn("dynamodb", f"table/{n}")}
        if kind == "AWS::SNS::Topic":
            n = name("TopicName")
            return {"Ref": arn("sns", n), "TopicArn": arn("sns", n), "TopicName": n}
        if kind == "AWS::SQS::Queue":
            n = name("QueueName")
            return {"Ref": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{n}", "Arn": arn("sqs", n), "QueueName": n}
        if kind == "AWS::KMS::Key":
            return {"Ref": self.key_id, "Arn": arn("kms", f"key/{self.key_id}"), "KeyId": self.key_id}
        if kind == "AWS::IAM::Role":
            # CloudFormation names it <stack>-<logical id>-<random>, at most 64 characters
            n = name("RoleName", f"{self.stack}-{logical}"[:51] + "-1A2B3C4D5E6F")
            return {"Ref": n, "Arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role{name('Path', '/')}{n}"}
        if kind == "AWS::IAM::ManagedPolicy":
            n = name("ManagedPolicyName", f"{self.stack}-{logical}-1A2B3C4D5E6F")
            return {"Ref": f"arn:{PARTITION}:iam::{ACCOUNT}:policy{name('Path', '/')}{n}"}
        if kind == "AWS::Lambda::Function":
            n = name("FunctionName")
            return {"Ref": n, "Arn": arn("lambda", f"function:{n}")}
        if kind == "AWS::StepFunctions::StateMachine":
            n = name("StateMachineName")
            return {"Ref": arn("states", f"stateMachine:{n}"), "Arn": arn("states", f"stateMachine:{n}"), "Name": n}
        if kind == "AWS::Logs::LogGroup":
            n = name("LogGroupName")
            return {"Ref": n, "Arn": arn("logs", f"log-group:{n}:*")}
        if kind == "AWS::Lambda::LayerVersion":
            return {"Ref": arn("lambda", f"layer:{name('LayerName')}:1")}
        if kind == "AWS::Events::Rule":
            n = name("Name")
            return {"Ref": n, "Arn": arn("events", f"rule/{n}")}
        if kind == "AWS::CloudWatch::Alarm":
            n = name("AlarmName")
            return {"Ref": n, "Arn": arn("cloudwatch", f"alarm:{n}")}
        if kind == "AWS::SageMaker::ModelPackageGroup":
            n = name("ModelPackageGroupName")
            return {"Ref": arn("sagemaker", f"model-package-group/{n}"),
                    "ModelPackageGroupArn": arn("sagemaker", f"model-package-group/{n}")}
        if kind == "AWS::SageMaker::Pipeline":
            return {"Ref": name("PipelineName")}
        if kind == "AWS::ECR::Repository":
            n = name("RepositoryName")
            return {"Ref": n, "Arn": arn("ecr", f"repository/{n}"),
                    "RepositoryUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{n}"}
        if kind == "AWS::CodeBuild::Project":
            n = name("Name")
            return {"Ref": n, "Arn": arn("codebuild", f"project/{n}")}
        if kind == "AWS::SageMaker::CodeRepository":
            n = name("CodeRepositoryName")
            return {"Ref": arn("sagemaker", f"code-repository/{n}"), "CodeRepositoryName": n}
        return {"Ref": logical}


def normalize(statement: dict) -> dict:
    assert "NotAction" not in statement and "NotResource" not in statement, statement
    return {**statement, "Action": as_list(statement["Action"]), "Resource": as_list(statement["Resource"])}


def document_statements(document: dict) -> list[dict]:
    return [normalize(s) for s in as_list(document["Statement"])]


def role_statements(template: dict, resolver: Resolver) -> dict[str, list[dict]]:
    """Role logical id -> every statement that applies to it: inline policies and the AWS managed
    policies SAM attaches (any other managed policy fails: the tests cannot see into it)."""
    out = {}
    for logical, r in template["Resources"].items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        props = resolver(r["Properties"])
        statements = [s for p in props.get("Policies", []) for s in document_statements(p["PolicyDocument"])]
        for managed in props.get("ManagedPolicyArns", []):
            statements += [{"Effect": "Allow", "Action": list(actions), "Resource": ["*"], "Managed": managed}
                           for actions in MANAGED_POLICIES[managed]]
        out[logical] = statements
    return out


def function_roles(template: dict) -> dict[str, str]:
    """Function logical id -> its role's logical id."""
    return {k: r["Properties"]["Role"]["Fn::GetAtt"][0] for k, r in template["Resources"].items()
            if r["Type"] == "AWS::Lambda::Function"}


def identity_policies(template: dict, resolver: Resolver) -> dict[str, list[dict]]:
    """Every identity policy of a template (role inline policies, managed policies), by name."""
    out = {}
    for logical, r in template["Resources"].items():
        if r["Type"] == "AWS::IAM::Role":
            for p in r["Properties"].get("Policies", []):
                out[f"{logical}/{p['PolicyName']}"] = document_statements(resolver(p["PolicyDocument"]))
        if r["Type"] == "AWS::IAM::ManagedPolicy":
            out[logical] = document_statements(resolver(r["Properties"]["PolicyDocument"]))
    return out


# --- the Service Authorization Reference, as cfn-lint ships it ------------------------------------
@cache
def authorization_reference() -> dict:
    return json.loads((Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json").read_text())


def resource_types(action: str) -> list[str] | None:
    """The resource types an action is authorized on ([]: none, so only "*"); None if unknown."""
    service, name = action.lower().split(":", 1)
    found = authorization_reference().get(service, {}).get("Actions", {}).get(name)
    return None if found is None else found.get("Resources", [])


def relevant(action: str, resource: str) -> bool:
    """Whether IAM can authorize `action` on `resource` (an ARN or an ARN pattern): the ARN has the
    form of one of the action's resource types. Unknown actions count as relevant everywhere."""
    if resource == "*":
        return True
    types = resource_types(action)
    if types is None:
        return True
    service = action.split(":")[0].lower()
    formats = authorization_reference()[service]["Resources"]
    for kind in types:
        for fmt in formats.get(kind, {}).get("ARNFormats", [".*"]):
            regex = re.sub(r"\$\{[^}]+\}", "[^:]*", fmt)
            if re.fullmatch(regex, resource) and (service != "s3" or ("/" in resource.split(":::", 1)[-1]) == (
                    kind in ("object", "accesspointobject"))):
                return True
    return False


# --- evaluation -----------------------------------------------------------------------------------
def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)  # IAM's * and ? (ARNs hold no [ ])


def _condition_holds(operator: str, key: str, expected, context: dict) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    expected = [str(e) for e in as_list(expected)]
    if base == "Null":
        return (key not in context) == (expected[0].lower() == "true")
    if key not in context:
        return if_exists or base.startswith(("StringNot", "ArnNot"))
    values = [str(v) for v in as_list(context[key])]
    if base in ("StringEquals", "ArnEquals"):
        return all(v in expected for v in values)
    if base in ("StringLike", "ArnLike"):
        return all(any(_matches(e, v) for e in expected) for v in values)
    if base == "StringNotEquals":
        return all(v not in expected for v in values)
    if base == "StringNotLike":
        return all(not any(_matches(e, v) for e in expected) for v in values)
    if base == "Bool":
        return all(v.lower() in [e.lower() for e in expected] for v in values)
    raise AssertionError(f"condition operator {operator} is not modelled here: add it")


def conditions_hold(statement: dict, context: dict) -> bool:
    return all(_condition_holds(op, key, expected, context)
               for op, tests in statement.get("Condition", {}).items() for key, expected in tests.items())


def applies(statement: dict, action: str, resource: str, context: dict) -> bool:
    return (any(_matches(a.lower(), action.lower()) for a in statement["Action"])
            and any(r == "*" or _matches(r, resource) for r in statement["Resource"])
            and conditions_hold(statement, context))


def allowed(statements: list[dict], action: str, resource: str, context: dict | None = None) -> bool:
    """IAM's answer for one identity policy: an explicit Deny wins, else some Allow must apply."""
    context = context or {}
    if any(s["Effect"] == "Deny" and applies(s, action, resource, context) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and applies(s, action, resource, context) for s in statements)


def covers(boundary: list[dict], statement: dict, context: dict) -> list[str]:
    """What of an Allow statement (its actions on its resource patterns, under its own conditions)
    the boundary does not allow: [] when it is all inside. `context` holds what is known of every
    resource of the stack (its tags); the statement's own condition values join it."""
    missing = []
    own = {key: as_list(values) for tests in statement.get("Condition", {}).values() for key, values in tests.items()}
    first = {key: values[0] for key, values in own.items()}
    contexts = [context | first | {key: v} for key, values in own.items() for v in values] or [context]
    for action in statement["Action"]:
        assert "*" not in action and "?" not in action, f"wildcard action {action}"
        for resource in statement["Resource"]:
            if not relevant(action, resource):
                continue
            for ctx in contexts:
                if not any(b["Effect"] == "Allow"
                           and any(_matches(a.lower(), action.lower()) for a in b["Action"])
                           and any(r == "*" or _matches(r, resource) for r in b["Resource"])
                           and conditions_hold(b, ctx) for b in boundary):
                    missing.append(f"{action} on {resource} ({ {k: ctx[k] for k in own} })")
    return missing
