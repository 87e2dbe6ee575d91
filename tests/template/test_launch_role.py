"""The launch role (project_template/template.yaml) can create, update and delete every resource
of the expanded stack, for the longest project names, and nothing is allowed on more than it needs.

REQUIRED is the one table: resource type -> (actions CloudFormation calls on it, its ARN)."""
import fnmatch
import json
import re
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

from .conftest import LONGEST
from .iam import Resolver, document_statements

REPO = Path(__file__).resolve().parents[2]
# IAM caps a managed policy at 6,144 characters: the launch role carries its permissions in two.
LAUNCH_POLICIES = ("LaunchPolicy", "LaunchServicesPolicy")
ACCOUNT, REGION, PARTITION = "123456789012", "ap-southeast-2", "aws"
ROLE_TAGS = {"sagemaker:project-id": LONGEST["SageMakerProjectId"]}

# Type -> (actions to create, update and delete it, ARN template over its name)
REQUIRED = {
    "AWS::KMS::Key": (["kms:CreateKey", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy",
                       "kms:EnableKeyRotation", "kms:GetKeyRotationStatus", "kms:TagResource", "kms:UntagResource",
                       "kms:ListResourceTags", "kms:ScheduleKeyDeletion", "kms:UpdateKeyDescription"],
                      "arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    "AWS::KMS::Alias": (["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:ListAliases"],
                        "arn:aws:kms:{region}:{account}:{name}"),
    "AWS::S3::Bucket": (["s3:CreateBucket", "s3:PutEncryptionConfiguration", "s3:PutBucketVersioning",
                         "s3:PutBucketPublicAccessBlock", "s3:PutBucketOwnershipControls", "s3:PutBucketNotification",
                         "s3:PutLifecycleConfiguration", "s3:PutBucketTagging", "s3:GetBucketTagging"],
                        "arn:aws:s3:::{name}"),  # DeletionPolicy Retain: never deleted by the stack
    "AWS::S3::BucketPolicy": (["s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"],
                              "arn:aws:s3:::{name}"),
    "AWS::DynamoDB::Table": (["dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
                              "dynamodb:DeleteTable", "dynamodb:UpdateContinuousBackups",
                              "dynamodb:DescribeContinuousBackups", "dynamodb:UpdateTimeToLive",
                              "dynamodb:DescribeTimeToLive", "dynamodb:TagResource", "dynamodb:UntagResource",
                              "dynamodb:ListTagsOfResource"], "arn:aws:dynamodb:{region}:{account}:table/{name}"),
    "AWS::SageMaker::ModelPackageGroup": (["sagemaker:CreateModelPackageGroup", "sagemaker:DescribeModelPackageGroup",
                                           "sagemaker:DeleteModelPackageGroup", "sagemaker:AddTags",
                                           "sagemaker:DeleteTags", "sagemaker:ListTags"],
                                          "arn:aws:sagemaker:{region}:{account}:model-package-group/{name}"),
    "AWS::SageMaker::Pipeline": (["sagemaker:CreatePipeline", "sagemaker:DescribePipeline", "sagemaker:UpdatePipeline",
                                  "sagemaker:DeletePipeline", "sagemaker:AddTags", "sagemaker:DeleteTags",
                                  "sagemaker:ListTags"], "arn:aws:sagemaker:{region}:{account}:pipeline/{name}"),
    "AWS::SNS::Topic": (["sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                         "sns:TagResource", "sns:UntagResource", "sns:ListTagsForResource"],
                        "arn:aws:sns:{region}:{account}:{name}"),
    "AWS::SNS::Subscription": (["sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes"],
                               "arn:aws:sns:{region}:{account}:{topic}:5f3c2b1a"),
    "AWS::SNS::TopicPolicy": (["sns:SetTopicAttributes", "sns:GetTopicAttributes"],
                              "arn:aws:sns:{region}:{account}:{topic}"),
    "AWS::SQS::Queue": (["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes",
                         "sqs:TagQueue", "sqs:UntagQueue", "sqs:ListQueueTags"], "arn:aws:sqs:{region}:{account}:{name}"),
    "AWS::SQS::QueuePolicy": (["sqs:SetQueueAttributes", "sqs:GetQueueAttributes"],
                              "arn:aws:sqs:{region}:{account}:{queue}"),
    "AWS::Lambda::LayerVersion": (["lambda:PublishLayerVersion", "lambda:GetLayerVersion",
                                   "lambda:DeleteLayerVersion"], "arn:aws:lambda:{region}:{account}:layer:{name}:1"),
    "AWS::Lambda::Function": (["lambda:CreateFunction", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
                               "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                               "lambda:DeleteFunction", "lambda:TagResource", "lambda:UntagResource", "lambda:ListTags"],
                              "arn:aws:lambda:{region}:{account}:function:{name}"),
    "AWS::Lambda::Permission": (["lambda:AddPermission", "lambda:RemovePermission"],
                                "arn:aws:lambda:{region}:{account}:function:{function}"),
    "AWS::Events::Rule": (["events:PutRule", "events:DescribeRule", "events:DeleteRule", "events:PutTargets",
                           "events:RemoveTargets", "events:ListTargetsByRule", "events:TagResource",
                           "events:UntagResource"], "arn:aws:events:{region}:{account}:rule/{name}"),
    "AWS::Logs::LogGroup": (["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                             "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"],
                            "arn:aws:logs:{region}:{account}:log-group:{name}"),
    "AWS::StepFunctions::StateMachine": (["states:CreateStateMachine", "states:DescribeStateMachine",
                                          "states:UpdateStateMachine", "states:DeleteStateMachine",
                                          "states:TagResource", "states:UntagResource", "states:ListTagsForResource",
                                          "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                                          "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
                                          "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                                          "logs:DescribeLogGroups"],
                                         "arn:aws:states:{region}:{account}:stateMachine:{name}"),
    "AWS::CloudWatch::Alarm": (["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms",
                                "cloudwatch:TagResource", "cloudwatch:UntagResource"],
                               "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
    "AWS::CloudWatch::Dashboard": (["cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"],
                                   "arn:aws:cloudwatch::{account}:dashboard/{name}"),
    "AWS::IAM::Role": (["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:PutRolePolicy", "iam:GetRolePolicy",
                        "iam:DeleteRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy",
                        "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
                        "iam:PassRole"],
                       "arn:aws:iam::{account}:role/SC-{account}-pp-abcdefgh-SomeFunctionRole-ABC123"),
    "Custom::EndpointCleanup": (["lambda:InvokeFunction"], "arn:aws:lambda:{region}:{account}:function:{function}"),
    "AWS::ECR::Repository": (["ecr:CreateRepository", "ecr:DescribeRepositories", "ecr:PutLifecyclePolicy",
                              "ecr:GetLifecyclePolicy", "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability",
                              "ecr:TagResource", "ecr:UntagResource", "ecr:ListTagsForResource",
                              "ecr:DeleteRepository", "ecr:BatchDeleteImage"],  # EmptyOnDelete
                             "arn:aws:ecr:{region}:{account}:repository/{name}"),
    "AWS::CodeBuild::Project": (["codebuild:CreateProject", "codebuild:UpdateProject", "codebuild:DeleteProject",
                                 "codebuild:BatchGetProjects"], "arn:aws:codebuild:{region}:{account}:project/{name}"),
    "AWS::SageMaker::CodeRepository": (["sagemaker:CreateCodeRepository", "sagemaker:DescribeCodeRepository",
                                        "sagemaker:UpdateCodeRepository", "sagemaker:DeleteCodeRepository",
                                        "sagemaker:AddTags", "sagemaker:DeleteTags", "sagemaker:ListTags"],
                                       "arn:aws:sagemaker:{region}:{account}:code-repository/{name}"),
}
NAME_PROPERTY = {"AWS::KMS::Alias": "AliasName", "AWS::S3::Bucket": "BucketName", "AWS::DynamoDB::Table": "TableName",
                 "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName", "AWS::SNS::Topic": "TopicName",
                 "AWS::SageMaker::Pipeline": "PipelineName",
                 "AWS::SQS::Queue": "QueueName", "AWS::Lambda::LayerVersion": "LayerName",
                 "AWS::Lambda::Function": "FunctionName", "AWS::Events::Rule": "Name",
                 "AWS::Logs::LogGroup": "LogGroupName", "AWS::StepFunctions::StateMachine": "StateMachineName",
                 "AWS::CloudWatch::Alarm": "AlarmName", "AWS::ECR::Repository": "RepositoryName",
                 "AWS::CloudWatch::Dashboard": "DashboardName",
                 "AWS::CodeBuild::Project": "Name", "AWS::SageMaker::CodeRepository": "CodeRepositoryName"}


def resolve(value, expanded) -> str:
    """A name in the expanded template, for LONGEST: Fn::Sub, Ref and GetAtt to named resources."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for k, v in {**LONGEST, "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION}.items():
            text = text.replace("${" + k + "}", v)
        assert "${" not in text, text
        return text
    target = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
    resource = expanded["Resources"][target]
    return resolve(resource["Properties"][NAME_PROPERTY[resource["Type"]]], expanded)


def arn_of(logical_id: str, resource: dict, expanded) -> str:
    kind, props = resource["Type"], resource.get("Properties", {})
    names = {"region": REGION, "account": ACCOUNT}
    if kind in NAME_PROPERTY:
        names["name"] = resolve(props[NAME_PROPERTY[kind]], expanded)
    if kind == "AWS::S3::BucketPolicy":
        names["name"] = resolve(props["Bucket"], expanded)
    if kind == "AWS::SNS::Subscription":
        names["topic"] = resolve(props["TopicArn"], expanded)
    if kind == "AWS::SNS::TopicPolicy":
        names["topic"] = resolve(props["Topics"][0], expanded)
    if kind == "AWS::SQS::QueuePolicy":
        names["queue"] = resolve(props["Queues"][0], expanded)
    if kind in ("AWS::Lambda::Permission", "Custom::EndpointCleanup"):
        names["function"] = resolve(props.get("FunctionName") or props["ServiceToken"], expanded)
    return REQUIRED[kind][1].format(**names)


def launch_statements() -> list[dict]:
    template = yaml_parse((REPO / "project_template" / "template.yaml").read_text())
    resolve = Resolver(template, {})
    return [s for name in LAUNCH_POLICIES
            for s in document_statements(resolve(template["Resources"][name]["Properties"]["PolicyDocument"]))]


def conditions_hold(statement: dict, tags: dict) -> bool:
    """Tag conditions, evaluated for a resource (or request) carrying the project's tags."""
    for operator, tests in statement.get("Condition", {}).items():
        for key, expected in tests.items():
            if key.startswith(("aws:RequestTag/", "aws:ResourceTag/", "iam:ResourceTag/")):
                value = tags.get(key.split("/", 1)[1])
                if value is None or not fnmatch.fnmatchcase(value, expected):
                    return False
    return True


def allowed(action: str, arn: str, tags: dict) -> bool:
    for s in launch_statements():
        if s["Effect"] == "Allow" and action in s["Action"] and conditions_hold(s, tags) and any(
                r == "*" or fnmatch.fnmatchcase(arn, r) for r in s["Resource"]):
            return True
    return False


def project_tags(resource: dict) -> dict:
    tags = resource.get("Properties", {}).get("Tags", {})
    tags = {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else dict(tags)
    return {k: (LONGEST["SageMakerProjectId"] if k == "sagemaker:project-id" else v) for k, v in tags.items()}


def test_every_resource_type_is_in_the_table(expanded):
    assert {r["Type"] for r in expanded["Resources"].values()} <= set(REQUIRED)


def test_launch_role_covers_every_resource(expanded):
    missing = []
    for logical_id, resource in expanded["Resources"].items():
        arn = arn_of(logical_id, resource, expanded)
        for action in REQUIRED[resource["Type"]][0]:
            if not allowed(action, arn, project_tags(resource)):
                missing.append(f"{logical_id}: {action} on {arn}")
    assert missing == []


def test_launch_role_refuses_other_resources():
    other = {"sagemaker:project-id": "someone-else"}
    assert not allowed("lambda:DeleteFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:billing-prod", {})
    assert not allowed("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/Admin", {})
    assert not allowed("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/x", other)
    assert not allowed("s3:PutBucketPolicy", "arn:aws:s3:::company-data", {})
    assert not allowed("dynamodb:DeleteTable", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders", {})


def test_launch_role_has_no_wildcard_actions():
    for s in launch_statements():
        assert not any(a == "*" or a.endswith(":*") for a in s["Action"]), s["Sid"]
        if "*" in s["Resource"]:
            assert s["Sid"] == "NoResourceLevel", s["Sid"]


def test_artifact_bucket_name_fits_for_the_longest_region():
    template = yaml_parse((REPO / "project_template" / "template.yaml").read_text())
    name = template["Resources"]["ArtifactBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    name = name.replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Region}", "ap-southeast-14")
    assert re.match(r"^[a-z0-9.-]{3,63}$", name), name


def test_each_launch_policy_fits_iams_size_limit():
    template = yaml_parse((REPO / "project_template" / "template.yaml").read_text())
    resolve = Resolver(template, {})
    for name in LAUNCH_POLICIES:
        document = resolve(template["Resources"][name]["Properties"]["PolicyDocument"])
        assert len(json.dumps(document, separators=(",", ":"))) <= 6144, name
    assert template["Resources"]["LaunchRole"]["Properties"]["ManagedPolicyArns"] == [
        {"Ref": name} for name in LAUNCH_POLICIES]
