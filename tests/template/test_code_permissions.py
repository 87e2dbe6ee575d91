"""Every AWS call the Lambdas (and the serving container, the pipeline's jobs) make is allowed by the
stack's roles: `calls()` maps each to its IAM action and resource, so removing a needed permission
fails here, and a new call in the code fails until it is added (the other classes of least-privilege
defects: test_least_privilege.py)."""
import re

import botocore.session
import pytest
from botocore import xform_name

from loraplane.emulator.deploy import expand
from loraplane_core import endpoint_names as names
from loraplane_core.deployment import scaling

from .conftest import LONGEST
from .iam import ACCOUNT, PARTITION, REPO, Resolver, allowed, arn, function_roles, role_statements


@pytest.fixture(scope="module")
def r(expanded) -> Resolver:
    return Resolver(expanded, dict(LONGEST))


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
               sm(f"endpoint-config/{names.components_config(prefix)}"),
               sm(f"endpoint-config/{names.async_config(prefix, 12)}")]
    base_ic = sm(f"inference-component/{names.base_component(prefix)}")
    adapter_ic = sm(f"inference-component/{names.adapter_component(endpoint_name, 'support-bot')}")
    base_pkg, adapter_pkg = sm(f"model-package/{prefix}-base/3"), sm(f"model-package/{prefix}-adapters/7")
    tt_alarm = arn("cloudwatch", f"alarm:TargetTracking-endpoint/{endpoint_name}/variant/AllTraffic-AlarmHigh-0a1b2c")
    uuid = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    ic_tt_alarms = [arn("cloudwatch", f"alarm:TargetTracking-{scaling.component_resource(names.base_component(prefix))}"
                                      f"-{kind}-{uuid}") for kind in ("AlarmHigh", "AlarmLow")]
    from_zero_alarm = arn("cloudwatch", f"alarm:{scaling.from_zero_name(prefix)}")
    adapter_alarm = arn("cloudwatch", "alarm:" + scaling.adapter_alarm_name(
        prefix, names.adapter_component(endpoint_name, "support-bot")))
    wake = ("update_inference_component_runtime_config", "sagemaker:UpdateInferenceComponentRuntimeConfig", base_ic, {})
    wake_async = ("update_endpoint_weights_and_capacities", "sagemaker:UpdateEndpointWeightsAndCapacities",
                  endpoint, {})
    adapter_alarm_writes = [("put_metric_alarm", "cloudwatch:PutMetricAlarm", adapter_alarm, {}),
                            ("(Tags on put_metric_alarm)", "cloudwatch:TagResource", adapter_alarm, {}),
                            ("describe_alarms", "cloudwatch:DescribeAlarms", adapter_alarm, {}),
                            ("delete_alarms", "cloudwatch:DeleteAlarms", adapter_alarm, {})]
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
        ("list_objects_v2", "s3:ListBucket", bucket, {"s3:prefix": "live/_instances/"}),  # prefetch reports
        ("get_object", "s3:GetObject", obj("live/_instances/ip-10-0-1-2-7-0a1b2c3d.json"), {}),
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
        ("DeployAdapterFunction", [*catalog_reads, *serving, *kms, wake, *adapter_alarm_writes,
                                   ("describe_scaling_policies", "application-autoscaling:DescribeScalingPolicies",
                                    "*", {}),
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
            ("(Tags on put_metric_alarm)", "cloudwatch:TagResource", from_zero_alarm, {}),
            wake, wake_async, *adapter_alarm_writes]),
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
            *[(op, f"cloudwatch:{a}", x, {}) for op, a in (("describe_alarms", "DescribeAlarms"),
                                                          ("delete_alarms", "DeleteAlarms"))
              for x in (from_zero_alarm, adapter_alarm)]]),
    ]
    roles = function_roles(template)
    out = [(roles[function], *call) for function, entries in table for call in entries]
    out += [("EndpointExecutionRole", *call) for call in [  # SageMaker hosting and the serving container
        ("(ModelDataSource S3Prefix)", "s3:ListBucket", bucket, {"s3:prefix": "base-models/llama/"}),
        ("(ModelDataSource S3Prefix)", "s3:GetObject", obj("base-models/llama/model.safetensors"), {}),
        ("(Container.ArtifactUrl)", "s3:GetObject", obj(f"artifacts/support-bot/{sha}/adapter.tar.gz"), {}),
        ("list_objects_v2", "s3:ListBucket", bucket, {"s3:prefix": "live/support-bot/"}),
        ("get_object", "s3:GetObject", obj("live/manifest.json"), {}),
        ("get_object", "s3:GetObject", obj("live/support-bot/adapter_model.safetensors"), {}),  # also ranged
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


def async_calls(r: Resolver, template: dict) -> list[tuple[str, str, str, str, dict]]:
    """What ServingMode async adds (statements under its condition): the smoke test's asynchronous
    requests (loraplane_core.async_inference) and what SageMaker does with the endpoint's role."""
    bucket, key = r.getatt("AdapterBucket", "Arn"), r.getatt("AdapterKey", "Arn")
    endpoint = arn("sagemaker", f"endpoint/{r(template['Outputs']['EndpointName']['Value'])}")
    out = [(function_roles(template)["SmokeTestFunction"], *call) for call in [
        ("invoke_endpoint_async", "sagemaker:InvokeEndpointAsync", endpoint, {}),
        ("put_object", "s3:PutObject", f"{bucket}/async/inputs/smoke/0a1b.json", {}),
        ("get_object", "s3:GetObject", f"{bucket}/async/outputs/smoke/0a1b.out", {}),
        ("get_object", "s3:GetObject", f"{bucket}/async/failures/smoke/0a1b-error.out", {}),
        ("get_object", "s3:GetObject", f"{bucket}/async/failures/0a1b-error.out", {}),  # extension not applied
        ("(NoSuchKey for a failure not written yet)", "s3:ListBucket", bucket,
         {"s3:prefix": "async/failures/0a1b-error.out"}),
        ("(NoSuchKey for a result not written yet)", "s3:ListBucket", bucket,
         {"s3:prefix": "async/outputs/smoke/0a1b.out"}),
        ("(SSE-KMS)", "kms:GenerateDataKey", key, {}), ("(SSE-KMS)", "kms:Decrypt", key, {})]]
    out += [(function_roles(template)["DeployAdapterFunction"], "update_endpoint_weights_and_capacities",
             "sagemaker:UpdateEndpointWeightsAndCapacities", endpoint, {})]  # ScaleToZero: wake the variant
    out += [("EndpointExecutionRole", *call) for call in [
        ("(InputLocation)", "s3:GetObject", f"{bucket}/async/inputs/batch-7/request.json", {}),
        ("(S3OutputPath)", "s3:PutObject", f"{bucket}/async/outputs/0a1b.out", {}),
        ("(S3FailurePath)", "s3:PutObject", f"{bucket}/async/failures/0a1b-error.out", {}),
        ("(SuccessTopic)", "sns:Publish", r.ref("AsyncSuccessTopic"), {}),
        ("(ErrorTopic)", "sns:Publish", r.ref("AsyncErrorTopic"), {}),
        ("(SSE-KMS results, encrypted topics)", "kms:GenerateDataKey", key, {}),
        ("(SSE-KMS)", "kms:Decrypt", key, {})]]
    return out


def live_manifest_calls(r: Resolver) -> list[tuple[str, str, str, str, dict]]:
    """What ServingMode on-demand and async add: each container's prefetch report."""
    bucket, key = r.getatt("AdapterBucket", "Arn"), r.getatt("AdapterKey", "Arn")
    return [("EndpointExecutionRole", *call) for call in [
        ("put_object", "s3:PutObject", f"{bucket}/live/_instances/ip-10-0-1-2-7-0a1b2c3d.json", {}),
        ("(SSE-KMS)", "kms:GenerateDataKey", key, {})]]


def test_every_call_of_the_code_is_allowed(expanded, r):
    roles = role_statements(expanded, r)
    refused = [f"{role}: {op} needs {action} on {resource} {context or ''}".strip()
               for role, op, action, resource, context in calls(r, expanded)
               if not allowed(roles[role], action, resource, context)]
    assert refused == []


def test_every_call_of_async_mode_is_allowed():
    params = {**LONGEST, "ServingMode": "async"}
    template = expand(REPO / "template.yaml", params)
    r = Resolver(template, params)
    roles = role_statements(template, r)
    refused = [f"{role}: {op} needs {action} on {resource} {context or ''}".strip()
               for role, op, action, resource, context in calls(r, template) + async_calls(r, template)
               + live_manifest_calls(r) if not allowed(roles[role], action, resource, context)]
    assert refused == []


def test_every_call_of_on_demand_mode_is_allowed_and_inference_components_cannot_write_reports(expanded, r):
    params = {**LONGEST, "ServingMode": "on-demand"}
    template = expand(REPO / "template.yaml", params)
    on_demand = Resolver(template, params)
    roles = role_statements(template, on_demand)
    refused = [f"{role}: {op} needs {action} on {resource} {context or ''}".strip()
               for role, op, action, resource, context in calls(on_demand, template) + live_manifest_calls(on_demand)
               if not allowed(roles[role], action, resource, context)]
    assert refused == []
    default = role_statements(expanded, r)  # inference-components: no container writes to the bucket
    assert not any(allowed(default[role], action, resource, context)
                   for role, op, action, resource, context in live_manifest_calls(r))


def test_async_permissions_exist_only_in_async_mode_and_the_smoke_test_reads_only_its_own(expanded, r):
    """Default mode: no role may wake an async variant. async: the smoke test reads only the results of
    its own requests (S3OutputPathExtension smoke), never the users'."""
    roles, fn = role_statements(expanded, r), function_roles(expanded)
    endpoint = arn("sagemaker", f"endpoint/{r(expanded['Outputs']['EndpointName']['Value'])}")
    assert not allowed(roles[fn["DeployAdapterFunction"]], "sagemaker:UpdateEndpointWeightsAndCapacities", endpoint)
    params = {**LONGEST, "ServingMode": "async"}
    template = expand(REPO / "template.yaml", params)
    ra = Resolver(template, params)
    smoke, bucket = role_statements(template, ra)[function_roles(template)["SmokeTestFunction"]], ra.getatt(
        "AdapterBucket", "Arn")
    # Other requests' outputs stay unreadable; failures are readable (AWS documents the extension for the
    # output path only, so a smoke failure may land at async/failures/<id>-error.out).
    for key in ("async/outputs/0a1b.out", "async/inputs/0a1b.json", "async/outputs/smokes/0a1b.out"):
        assert not allowed(smoke, "s3:GetObject", f"{bucket}/{key}"), key
    for prefix in ("async/outputs/0a1b.out", "async/failures/", "async/"):
        assert not allowed(smoke, "s3:ListBucket", bucket, {"s3:prefix": prefix}), prefix


@pytest.mark.parametrize("version", [1, 9999, 10000, 54321, 99999])
def test_every_version_of_the_longest_project_is_deployable(expanded, r, version):
    """Its model and endpoint config names (63 characters at most, endpoint_names.py) match the Hosting
    statement's one-'?'-per-character patterns."""
    prefix = f"{LONGEST['SageMakerProjectName']}-{LONGEST['SageMakerProjectId']}"
    statements = role_statements(expanded, r)[function_roles(expanded)["DeployBaseFunction"]]
    for action, kind, name in (("CreateModel", "model", names.base_model_name(prefix, version)),
                               ("CreateEndpointConfig", "endpoint-config", names.base_model_name(prefix, version)),
                               ("CreateEndpointConfig", "endpoint-config", names.async_config(prefix, version))):
        assert len(name) <= 63 and allowed(statements, f"sagemaker:{action}", arn("sagemaker", f"{kind}/{name}")), name


def test_every_aws_operation_in_the_code_is_in_the_table(expanded, r):
    """A new boto3 call fails here until calls() says which role makes it and what it needs."""
    in_table = {op for _, op, *_ in calls(r, expanded) + async_calls(r, expanded)}
    unknown = {op: sorted(files) for op, files in operations_in_code().items() if op not in in_table}
    assert unknown == {}


def test_the_table_has_no_calls_the_code_no_longer_makes(expanded, r):
    in_code = operations_in_code()
    stale = {op for _, op, *_ in calls(r, expanded) + async_calls(r, expanded)
             if not op.startswith("(") and op not in in_code}
    assert stale == set()
