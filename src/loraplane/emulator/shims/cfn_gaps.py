"""What moto's CloudFormation skips in our template, filled in.

- No provisioners for AWS::SageMaker::ModelPackageGroup, AWS::SageMaker::Pipeline, AWS::S3::BucketPolicy,
  AWS::SQS::QueuePolicy or AWS::SNS::Subscription (moto only warns and skips them).
- AWS::S3::Bucket ignores VersioningConfiguration, PublicAccessBlockConfiguration and
  NotificationConfiguration (so no EventBridge events would be sent).
- AWS::StepFunctions::StateMachine ignores DefinitionSubstitutions.
- AWS::KMS::Key fails on CloudFormation's Key/Value tags (it expects the API's TagKey/TagValue).
- AWS::KMS::Key and AWS::IAM::Role keep their policy documents as objects: DescribeKey fails on them
  and GetRolePolicy answers a Python repr; they are stored as JSON, as the API stores them.
- No provisioner for AWS::CloudWatch::Alarm (the endpoint's rollback alarms, which local hosting
  watches during blue/green updates).
"""
import json
from typing import Any

from moto.core.common_models import CloudFormationModel


class _Provisioned:
    """A resource created through a moto backend call; Ref gives `physical_resource_id`.
    (moto finds models as direct subclasses of CloudFormationModel, so this is a mixin.)"""

    def __init__(self, physical_id: str, attributes: dict[str, str] | None = None):
        self.physical_resource_id = physical_id
        self._attributes = attributes or {}

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self._attributes[attribute_name]

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        return None


class ModelPackageGroupResource(_Provisioned, CloudFormationModel):
    @staticmethod
    def cloudformation_name_type() -> str:
        return "ModelPackageGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::ModelPackageGroup"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.sagemaker.models import sagemaker_backends

        props = cloudformation_json["Properties"]
        name = props.get("ModelPackageGroupName", resource_name)
        backend = sagemaker_backends[account_id][region_name]
        backend.create_model_package_group(name, props.get("ModelPackageGroupDescription", ""), props.get("Tags", []))
        arn = backend.model_package_groups[name].arn
        return cls(arn, {"ModelPackageGroupArn": arn, "ModelPackageGroupStatus": "Completed"})

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.sagemaker.models import sagemaker_backends

        # On DeleteStack the properties are unresolved (Fn::Sub): the physical id (the ARN) names it.
        name = resource_name.rsplit("/", 1)[-1]
        sagemaker_backends[account_id][region_name].model_package_groups.pop(name, None)


class PipelineResource(_Provisioned, CloudFormationModel):
    """The fine-tuning pipeline: stored with its definition (moto runs no pipeline steps)."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "PipelineName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::Pipeline"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.sagemaker.models import sagemaker_backends

        props = cloudformation_json["Properties"]
        definition = props["PipelineDefinition"]
        name = props.get("PipelineName", resource_name)
        sagemaker_backends[account_id][region_name].create_pipeline(
            name, props.get("PipelineDisplayName", name), definition.get("PipelineDefinitionBody"),
            definition.get("PipelineDefinitionS3Location"), props.get("PipelineDescription", ""), props["RoleArn"],
            props.get("Tags", []), props.get("ParallelismConfiguration", {}))
        return cls(name)  # Ref: the pipeline's name

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.sagemaker.models import sagemaker_backends

        name = resource_name  # the physical id (the name); the properties are unresolved on DeleteStack
        sagemaker_backends[account_id][region_name].pipelines.pop(name, None)


class BucketPolicyResource(_Provisioned, CloudFormationModel):
    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.s3.models import s3_backends

        props = cloudformation_json["Properties"]
        s3_backends[account_id]["aws"].put_bucket_policy(props["Bucket"], json.dumps(props["PolicyDocument"]).encode())
        return cls(props["Bucket"])


class QueuePolicyResource(_Provisioned, CloudFormationModel):
    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.sqs.models import sqs_backends

        props = cloudformation_json["Properties"]
        backend = sqs_backends[account_id][region_name]
        for url in props["Queues"]:
            backend.set_queue_attributes(url.rstrip("/").split("/")[-1], {"Policy": json.dumps(props["PolicyDocument"])})
        return cls(resource_name)


class SubscriptionResource(_Provisioned, CloudFormationModel):
    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.sns.models import sns_backends

        props = cloudformation_json["Properties"]
        sub = sns_backends[account_id][region_name].subscribe(props["TopicArn"], props["Endpoint"], props["Protocol"])
        return cls(sub.arn)


def _apply_bucket_properties(bucket_name: str, props: dict, account_id: str) -> None:
    from moto.s3.models import s3_backends

    backend = s3_backends[account_id]["aws"]
    if "VersioningConfiguration" in props:
        backend.put_bucket_versioning(bucket_name, props["VersioningConfiguration"]["Status"])
    if "PublicAccessBlockConfiguration" in props:
        backend.put_public_access_block(bucket_name, props["PublicAccessBlockConfiguration"])
    eventbridge = props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {})
    if str(eventbridge.get("EventBridgeEnabled", "false")).lower() == "true":
        backend.put_bucket_notification_configuration(bucket_name, {"EventBridgeConfiguration": {}})


def substitute_definition(definition: str, substitutions: dict[str, Any]) -> str:
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


class AlarmResource(_Provisioned, CloudFormationModel):
    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.cloudwatch.models import cloudwatch_backends

        p = cloudformation_json["Properties"]
        name = p.get("AlarmName", resource_name)
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name, namespace=p.get("Namespace"), metric_name=p.get("MetricName"),
            comparison_operator=p["ComparisonOperator"], evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p.get("Period", 60)), threshold=float(p.get("Threshold", 0)), statistic=p.get("Statistic"),
            description=p.get("AlarmDescription", ""), dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []), extended_statistic=p.get("ExtendedStatistic"),
            treat_missing_data=p.get("TreatMissingData"), tags=p.get("Tags", []),
            # what the alarm evaluation (alarm_evaluation.py) reads besides
            ok_actions=p.get("OKActions", []), insufficient_data_actions=p.get("InsufficientDataActions", []),
            datapoints_to_alarm=int(p["DatapointsToAlarm"]) if p.get("DatapointsToAlarm") else None,
            unit=p.get("Unit"), actions_enabled=str(p.get("ActionsEnabled", True)).lower() != "false",
            evaluate_low_sample_count_percentile=p.get("EvaluateLowSampleCountPercentile"))
        return cls(name, {"Arn": alarm.alarm_arn})

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.cloudwatch.models import cloudwatch_backends

        name = resource_name  # the physical id; the properties are unresolved on DeleteStack
        cloudwatch_backends[account_id][region_name].delete_alarms([name])


def install() -> None:
    from moto.cloudformation import parsing
    from moto.iam.models import Role as IamRole
    from moto.kms.models import Key as KmsKey
    from moto.s3.models import FakeBucket
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend as get_sfn_backend
    from moto.stepfunctions.utils import cfn_to_api_tags

    create_bucket = FakeBucket.create_from_cloudformation_json.__func__

    def bucket_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = create_bucket(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        _apply_bucket_properties(bucket.name, cloudformation_json.get("Properties", {}), account_id)
        return bucket

    def state_machine_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        # Created in the backend the API serves: with execute_state_machine on, that is the
        # interpreter's backend, which moto's own CloudFormation model does not use.
        props = cloudformation_json["Properties"]
        definition = substitute_definition(props["DefinitionString"], props.get("DefinitionSubstitutions") or {})
        return get_sfn_backend(account_id, region_name).create_state_machine(
            props.get("StateMachineName", resource_name), definition, props.get("RoleArn", ""),
            tags=cfn_to_api_tags(props.get("Tags", [])))

    create_key = KmsKey.create_from_cloudformation_json.__func__

    def key_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        policy = props.get("KeyPolicy")  # kept as an object, DescribeKey would fail on it
        props = {**props, "Tags": tags, **({"KeyPolicy": json.dumps(policy)} if isinstance(policy, dict) else {})}
        return create_key(cls, resource_name, {**cloudformation_json, "Properties": props}, account_id, region_name,
                          **kwargs)

    create_role = IamRole.create_from_cloudformation_json.__func__

    def role_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        # Inline policies kept as objects would be served as Python reprs by GetRolePolicy.
        props = cloudformation_json["Properties"]
        policies = [{**p, "PolicyDocument": json.dumps(p["PolicyDocument"])}
                    if isinstance(p.get("PolicyDocument"), dict) else p for p in props.get("Policies", [])]
        return create_role(cls, resource_name, {**cloudformation_json, "Properties": {**props, "Policies": policies}},
                           account_id, region_name, **kwargs)

    KmsKey.create_from_cloudformation_json = classmethod(key_from_cfn)
    IamRole.create_from_cloudformation_json = classmethod(role_from_cfn)
    FakeBucket.create_from_cloudformation_json = classmethod(bucket_from_cfn)
    StateMachine.create_from_cloudformation_json = classmethod(state_machine_from_cfn)
    # The model map is cached from CloudFormationModel.__subclasses__(); rebuild it with ours.
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
