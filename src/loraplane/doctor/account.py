"""Checks 1, 4, 5, 6: credentials and region, the stack, its bucket and KMS key, its model package groups."""
from .result import Check, StackFacts, error_code, fail, is_access_denied, ok, warn

# What the CLI and the contract rely on (CONTRACTS.md section 1, plus what loraplane commands read).
REQUIRED_OUTPUTS = ("AdapterBucketName", "BaseModelPackageGroupName", "AdapterModelPackageGroupName", "EndpointName",
                    "NotificationTopicArn", "CatalogTableName")
REQUIRED_PARAMETERS = ("SageMakerProjectName", "SageMakerProjectId", "InstanceType", "ServingImageUri")
REDEPLOY = "deploy the current template: sam build && sam deploy"


def credentials(session) -> tuple[Check, dict | None]:
    """(the check, the caller identity) - no identity means nothing else can be checked."""
    name = "credentials"
    region = session.region_name
    if not region:
        return fail(name, "no region configured",
                    "set one: export AWS_DEFAULT_REGION=<region>, or aws configure set region <region>"), None
    try:
        identity = session.client("sts", region_name=region).get_caller_identity()
    except Exception as exc:  # noqa: BLE001 - no credentials, an expired SSO token, no network...
        code = error_code(exc)
        offline = code in ("EndpointConnectionError", "ConnectTimeoutError")
        fix = ("check the network, a proxy, or AWS_ENDPOINT_URL" if offline
               else "configure credentials: aws configure, aws sso login, or AWS_PROFILE=<profile>")
        return fail(name, f"no working credentials ({code}: {' '.join(str(exc).split())[:160]})", fix), None
    return ok(name, f"{identity['Arn']} in {region}"), identity


def stack(facts: StackFacts) -> Check:
    """Fills facts.outputs, .params and .resources as it goes."""
    name = "stack"
    cfn = facts.client("cloudformation")
    try:
        found = cfn.describe_stacks(StackName=facts.name)["Stacks"][0]
    except Exception as exc:
        if "does not exist" in str(exc):
            return fail(name, f"no stack {facts.name} in {facts.region}",
                        "deploy it (sam build && sam deploy --guided), or pass --stack-name / set LORAPLANE_STACK")
        raise
    facts.outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    facts.params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=facts.name):
        for r in page["StackResourceSummaries"]:
            facts.resources[r["LogicalResourceId"]] = (r["ResourceType"], r.get("PhysicalResourceId", ""))
    status = found["StackStatus"]
    if status in ("ROLLBACK_COMPLETE", "DELETE_COMPLETE") or not status.endswith("_COMPLETE"):
        fix = ("delete it and deploy again: aws cloudformation delete-stack --stack-name " + facts.name
               if status == "ROLLBACK_COMPLETE" else "wait for it to finish, or look at its events: "
               f"aws cloudformation describe-stack-events --stack-name {facts.name}")
        return fail(name, f"{facts.name} is {status}", fix)
    missing = [o for o in REQUIRED_OUTPUTS if not facts.outputs.get(o)]
    missing += [f"parameter {p}" for p in REQUIRED_PARAMETERS if p not in facts.params]
    if missing:
        return fail(name, f"{facts.name} lacks {', '.join(missing)}", REDEPLOY)
    if status == "UPDATE_ROLLBACK_COMPLETE":
        return warn(name, f"{facts.name}: its last update rolled back (the previous version is deployed)",
                    f"see why: aws cloudformation describe-stack-events --stack-name {facts.name}")
    return ok(name, f"{facts.name} is {status} with its outputs")


def bucket(facts: StackFacts) -> Check:
    name, bucket_name = "adapter bucket", facts.outputs["AdapterBucketName"]
    try:
        facts.client("s3").head_bucket(Bucket=bucket_name)
    except Exception as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return fail(name, f"s3://{bucket_name} does not exist", REDEPLOY)
        if is_access_denied(exc):
            return fail(name, f"you may not reach s3://{bucket_name} (403)",
                        f"allow s3:ListBucket on arn:{facts.partition}:s3:::{bucket_name} to your identity")
        raise
    return ok(name, f"s3://{bucket_name} reachable")


def kms_key(facts: StackFacts) -> Check:
    name, key_id = "kms key", facts.physical("AdapterKey")
    if not key_id:
        return fail(name, "the stack has no AdapterKey", REDEPLOY)
    try:
        meta = facts.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    except Exception as exc:
        if is_access_denied(exc):
            return fail(name, f"you may not describe key {key_id}",
                        "allow kms:DescribeKey on the stack's AdapterKey to your identity")
        if error_code(exc) == "NotFoundException":
            return fail(name, f"key {key_id} not found", REDEPLOY)
        raise
    state = meta.get("KeyState", "Enabled")
    if state == "PendingDeletion":
        return fail(name, f"key {key_id} is pending deletion", f"aws kms cancel-key-deletion --key-id {key_id} "
                    f"&& aws kms enable-key --key-id {key_id}")
    if state != "Enabled":
        return fail(name, f"key {key_id} is {state}", f"aws kms enable-key --key-id {key_id}")
    return ok(name, f"key {key_id} enabled")


def model_package_groups(facts: StackFacts) -> Check:
    name = "model package groups"
    sm = facts.client("sagemaker")
    groups = [facts.outputs[o] for o in ("BaseModelPackageGroupName", "AdapterModelPackageGroupName")]
    missing = []
    for group in groups:
        try:
            described = sm.describe_model_package_group(ModelPackageGroupName=group)
            status = described.get("ModelPackageGroupStatus", "Completed")
        except Exception as exc:
            if is_access_denied(exc):
                return fail(name, f"you may not describe {group}",
                            "allow sagemaker:DescribeModelPackageGroup to your identity")
            if error_code(exc) not in ("ValidationException", "ResourceNotFound"):
                raise
            status = "missing"
        if status != "Completed":
            missing.append(f"{group} ({status})")
    if missing:
        return fail(name, f"not usable: {', '.join(missing)}", REDEPLOY)
    return ok(name, ", ".join(groups))
