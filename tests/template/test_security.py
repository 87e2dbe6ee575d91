"""Security properties of the stack, checked on the template as CloudFormation receives it."""
import json

import pytest

from .iam import resource_types
from .test_least_privilege import RESOURCE_STAR_EXCEPTIONS

PROJECT_TAGS = {"sagemaker:project-name", "sagemaker:project-id"}
# Types in this stack that accept tags, and the property holding them.
TAGGABLE = {
    "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::SNS::Topic", "AWS::SQS::Queue",
    "AWS::SageMaker::ModelPackageGroup", "AWS::Lambda::Function", "AWS::StepFunctions::StateMachine",
    "AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::SageMaker::Pipeline", "AWS::ECR::Repository",
    "AWS::CodeBuild::Project", "AWS::SageMaker::CodeRepository", "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
}


def resources(template, kind):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def statements(doc):
    """The document's statements; one present only in some configurations (Fn::If, e.g. ServingMode
    async) is checked as if it were always there."""
    s = doc.get("Statement", [])
    out = []
    for x in [s] if isinstance(s, dict) else s:
        if set(x) == {"Fn::If"}:
            out += [branch for branch in x["Fn::If"][1:] if isinstance(branch, dict) and "Effect" in branch]
        else:
            out.append(x)
    return out


def as_list(x):
    return x if isinstance(x, list) else [x]


def test_adapter_bucket_is_locked_down(expanded):
    [bucket] = resources(expanded, "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "aws:kms" and sse["KMSMasterKeyID"] == {"Fn::GetAtt": ["AdapterKey", "Arn"]}
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(props["PublicAccessBlockConfiguration"][k] is True for k in
               ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    assert props["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    [policy] = resources(expanded, "AWS::S3::BucketPolicy").values()
    [deny] = [s for s in statements(policy["Properties"]["PolicyDocument"]) if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and deny["Action"] == "s3:*"
    assert len(deny["Resource"]) == 2  # the bucket and its objects


def test_async_requests_and_results_expire(sam_template):
    """ServingMode async leaves every request and result in the bucket: a lifecycle rule expires them."""
    [bucket] = resources(sam_template, "AWS::S3::Bucket").values()
    rules = {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    rule = rules["ExpireAsyncInference"]
    assert (rule["Status"], rule["Prefix"], rule["ExpirationInDays"]) == ("Enabled", "async/",
                                                                          {"Ref": "AsyncRetentionDays"})
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}  # the bucket is versioned
    days = sam_template["Parameters"]["AsyncRetentionDays"]
    assert (days["Type"], days["Default"], days["MinValue"]) == ("Number", 7, 1)
    assert "Prefix" not in rules["ExpireOldVersionsAndAbortedUploads"]  # the bucket-wide rule stays


def test_data_at_rest_is_encrypted_with_the_stack_key(expanded):
    for table in resources(expanded, "AWS::DynamoDB::Table").values():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
    for kind in ("AWS::SNS::Topic", "AWS::SQS::Queue"):
        for r in resources(expanded, kind).values():
            assert r["Properties"]["KmsMasterKeyId"] == {"Ref": "AdapterKey"}
    [key] = resources(expanded, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True


def iam_statements(expanded):
    for name, role in resources(expanded, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for s in statements(policy["PolicyDocument"]):
                yield name, s


def test_least_privilege_iam(expanded):
    checked = 0
    for role, s in iam_statements(expanded):
        if s["Effect"] != "Allow":
            continue
        actions, res = as_list(s["Action"]), as_list(s["Resource"])
        assert not any(a == "*" or a.endswith(":*") for a in actions), f"{role}: wildcard action {actions}"
        if "*" in res:  # the list, with reasons: test_least_privilege.py
            scoped = {a for a in actions if resource_types(a) != [] and a not in RESOURCE_STAR_EXCEPTIONS}
            assert not scoped, f"{role}: {sorted(scoped)} on '*'"
        checked += 1
    assert checked > 10
    for role in resources(expanded, "AWS::IAM::Role").values():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert "AdministratorAccess" not in json.dumps(arn) and "FullAccess" not in json.dumps(arn)


def tag_keys(props) -> set[str]:
    tags = props.get("Tags", [])
    return {t["Key"] for t in tags} if isinstance(tags, list) else set(tags)


def test_project_tags_on_every_taggable_resource(expanded):
    untagged = [k for k, r in expanded["Resources"].items()
                if r["Type"] in TAGGABLE and not PROJECT_TAGS <= tag_keys(r.get("Properties", {}))]
    assert untagged == []
    assert {r["Type"] for r in expanded["Resources"].values()} & TAGGABLE == TAGGABLE


def test_contract_parameters_and_outputs(sam_template):
    params = sam_template["Parameters"]
    assert params["SageMakerProjectName"]["MaxLength"] == 32 and params["SageMakerProjectName"]["MinLength"] == 1
    assert params["SageMakerProjectName"]["AllowedPattern"] == "^[a-zA-Z](-*[a-zA-Z0-9])*"
    assert params["SageMakerProjectId"]["MaxLength"] == 20
    assert {"MaxLoraRank", "MaxAdapterBytes", "AutoApproveAdapters"} <= set(params)
    assert {"AdapterBucketName", "BaseModelPackageGroupName", "AdapterModelPackageGroupName", "EndpointName",
            "NotificationTopicArn"} <= set(sam_template["Outputs"])


def rule_targeting(expanded, logical_id: str) -> dict:
    [rule] = [r for r in resources(expanded, "AWS::Events::Rule").values()
              if any(t["Arn"] == {"Ref": logical_id} for t in r["Properties"]["Targets"])]
    return rule


def test_upload_rule_starts_ingest_with_dead_letters(expanded):
    rule = rule_targeting(expanded, "IngestStateMachine")
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "adapters/"}]
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "IngestStateMachine"}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["IngestEventDeadLetterQueue", "Arn"]}


def test_registry_decisions_start_deployments_with_dead_letters(expanded):
    rule = rule_targeting(expanded, "DeployStateMachine")
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Model Package State Change"]
    groups = [g["Fn::Sub"] for g in pattern["detail"]["ModelPackageGroupName"]]
    assert sorted(g.rsplit("-", 1)[1] for g in groups) == ["adapters", "base"]
    [target] = rule["Properties"]["Targets"]
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DeployEventDeadLetterQueue", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


LIMITS = {"AWS::Lambda::Function": ("FunctionName", 64), "AWS::S3::Bucket": ("BucketName", 63),
          "AWS::SageMaker::ModelPackageGroup": ("ModelPackageGroupName", 63), "AWS::Events::Rule": ("Name", 64),
          "AWS::StepFunctions::StateMachine": ("StateMachineName", 80), "AWS::SQS::Queue": ("QueueName", 80),
          "AWS::SNS::Topic": ("TopicName", 256), "AWS::DynamoDB::Table": ("TableName", 255),
          "AWS::SageMaker::Pipeline": ("PipelineName", 256), "AWS::ECR::Repository": ("RepositoryName", 256),
          "AWS::CodeBuild::Project": ("Name", 255), "AWS::SageMaker::CodeRepository": ("CodeRepositoryName", 63)}


def resolve_sub(value, params) -> str:
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    for k, v in {**params, "AWS::AccountId": "123456789012", "AWS::Region": "ap-southeast-2"}.items():
        text = text.replace("${" + k + "}", v)
    assert "${" not in text, text
    return text


@pytest.mark.parametrize("kind", sorted(LIMITS))
def test_names_fit_aws_limits_for_the_longest_project(expanded, kind):
    from .conftest import LONGEST

    prop, limit = LIMITS[kind]
    for r in resources(expanded, kind).values():
        name = resolve_sub(r["Properties"][prop], LONGEST)
        assert len(name) <= limit, f"{kind} {name} ({len(name)} > {limit})"
    endpoint = expanded["Outputs"]["EndpointName"]["Value"]
    assert len(resolve_sub(endpoint, LONGEST)) <= 63


def test_run_time_names_fit_aws_limits_for_the_longest_project(expanded):
    """What the control plane names at run time (endpoint_names.py), and the teardown's view of it."""
    from loraplane_core import endpoint_names as n

    from .conftest import LONGEST

    prefix = f"{LONGEST['SageMakerProjectName']}-{LONGEST['SageMakerProjectId']}"
    endpoint = resolve_sub(expanded["Outputs"]["EndpointName"]["Value"], LONGEST)
    adapter = "a" + "-b" * 14 + "c"  # 30 characters, the longest adapter name
    names = {"endpoint": endpoint, "base component": n.base_component(prefix),
             "adapter component": n.adapter_component(endpoint, adapter),
             "model (version 9999)": n.base_model_name(prefix, 9999),
             "endpoint config (on-demand: the model's name)": n.base_model_name(prefix, 9999),
             "endpoint config (inference components)": n.components_config(prefix),
             "endpoint config (async, version 9999)": n.async_config(prefix, 9999),
             "model (version 10000)": n.base_model_name(prefix, 10000),
             "endpoint config (async, version 99999)": n.async_config(prefix, 99999)}
    assert len(adapter) == 30 and len(prefix) == 53
    too_long = {what: (name, len(name)) for what, name in names.items() if len(name) > 63}
    assert too_long == {}
    assert n.base_model_name(prefix, 9999).endswith("-9999")  # not truncated: versions stay distinct
    assert n.async_config(prefix, 9999).endswith("-async9999")
    assert n.base_model_name(prefix, 10000) != n.base_model_name(prefix, 1000)  # no longer cut to one name
    assert all(n.owned_by(prefix, name) for what, name in names.items() if what.startswith(("model", "endpoint config")))
    assert n.adapter_of_component(endpoint, names["adapter component"]) == adapter


def test_dead_letters_and_failed_executions_raise_an_alarm_that_notifies(sam_template):
    """Nothing is lost silently: each dead-letter queue and each state machine has an alarm whose
    action is the stack's topic, and the topic lets exactly those alarms publish."""
    resources = sam_template["Resources"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"
              and {"Ref": "NotificationTopic"} in r["Properties"].get("AlarmActions", [])]
    watched = {str(d["Value"]) for a in alarms for d in a.get("Dimensions", [])}
    queues = [n for n, r in resources.items() if r["Type"] == "AWS::SQS::Queue"]
    machines = [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::StateMachine"]
    assert queues and machines
    for q in queues:
        assert str({"Fn::GetAtt": [q, "QueueName"]}) in watched or str({"Fn::GetAtt": f"{q}.QueueName"}) in watched, q
    for m in machines:
        assert str({"Ref": m}) in watched, m
    policy = resources["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    [allow] = [s for s in policy if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    names = {a["AlarmName"]["Fn::Sub"].rsplit("}-", 1)[1] for a in alarms}
    assert {arn["Fn::Sub"].rsplit("}-", 1)[1] for arn in allow["Condition"]["ArnEquals"]["aws:SourceArn"]} == names
