"""The serving image's build (`loraplane image build`): CodeBuild builds the way AWS reports them,
without running them (no Docker here), and the ECR repository as CloudFormation configures it.

What moto 5.2.5 lacks:
- CloudFormation: no AWS::CodeBuild::Project (moto only warns and skips it); AWS::ECR::Repository
  passes ImageScanningConfiguration and EncryptionConfiguration in CloudFormation's casing to the
  API's model, so DescribeRepositories shows neither (scan on push off, no KMS key).
- StartBuild drops the overrides (`sourceTypeOverride`, `sourceLocationOverride`,
  `environmentVariablesOverride`, `buildspecOverride`) and reports a canned CodeCommit source.
- BatchGetBuilds jumps every build to SUCCEEDED and appends the phases again at every read.

Here a build keeps its overrides (merged into the project's source and environment as AWS does),
advances one phase per BatchGetBuilds read, fails in DOWNLOAD_SOURCE with CLIENT_ERROR when its S3
source does not exist, and fails where a test asks (faults.fail_build). Each phase is logged to the
project's CloudWatch Logs group, stream <build uuid>, when that group exists. No buildspec command
runs and no image is pushed.
Phases and statuses: https://docs.aws.amazon.com/codebuild/latest/userguide/view-build-details.html
"""
import copy
import threading
import uuid

from moto.core.common_models import CloudFormationModel

from .cfn_gaps import _Provisioned

PHASES = ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD",
          "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED"]
OVERRIDES = ("sourceTypeOverride", "sourceLocationOverride", "buildspecOverride", "environmentVariablesOverride")
_lock = threading.Lock()
_builds: dict[str, dict] = {}  # build id -> {"build": what BatchGetBuilds answers, "fail": (phase, code, message)}


class ProjectResource(_Provisioned, CloudFormationModel):
    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeBuild::Project"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.codebuild.models import codebuild_backends

        p = cloudformation_json["Properties"]
        name = p.get("Name", resource_name)
        env = p["Environment"]
        logs = p.get("LogsConfig", {}).get("CloudWatchLogs", {})
        project = codebuild_backends[account_id][region_name].create_project(
            project_name=name, description=p.get("Description"),
            project_source={"type": p["Source"]["Type"], "location": p["Source"].get("Location", ""),
                            "buildspec": p["Source"].get("BuildSpec", "")},
            artifacts={"type": p["Artifacts"]["Type"]},
            environment={"type": env["Type"], "computeType": env["ComputeType"], "image": env["Image"],
                         "privilegedMode": str(env.get("PrivilegedMode", False)).lower() == "true",
                         "environmentVariables": [{"name": v["Name"], "value": str(v["Value"]),
                                                   "type": v.get("Type", "PLAINTEXT")}
                                                  for v in env.get("EnvironmentVariables", [])]},
            service_role=p["ServiceRole"], tags=[{"key": t["Key"], "value": t["Value"]} for t in p.get("Tags", [])],
            cache=None, timeout=int(p.get("TimeoutInMinutes", 60)), queued_timeout=int(p.get("QueuedTimeoutInMinutes", 480)),
            source_version=None, logs_config={"cloudWatchLogs": {"status": logs.get("Status", "ENABLED"),
                                                                 **({"groupName": logs["GroupName"]} if "GroupName" in logs else {})}},
            vpc_config=None)
        return cls(name, {"Arn": project["arn"]})

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.codebuild.models import codebuild_backends

        codebuild_backends[account_id][region_name].codebuild_projects.pop(resource_name, None)  # the physical id


def _now() -> str:
    from moto.core.utils import iso_8601_datetime_with_milliseconds

    return iso_8601_datetime_with_milliseconds()


def _source_missing(source: dict, account_id: str) -> str | None:
    """AWS's DOWNLOAD_SOURCE message when an S3 source ("bucket/key") is not there."""
    from moto.s3.models import s3_backends

    if source.get("type") != "S3":
        return None
    bucket, _, key = source.get("location", "").partition("/")
    try:
        found = s3_backends[account_id]["aws"].get_object(bucket, key)  # None: no such key
    except Exception:  # noqa: BLE001 - no such bucket
        found = None
    return None if found else f"NoSuchKey: The specified key does not exist. for primary source and source version {key}"


def _log(account_id: str, region: str, build: dict, message: str) -> None:
    import time

    from moto.logs.models import logs_backends

    logs = build["logs"]
    backend = logs_backends[account_id][region]
    if logs.get("groupName") not in backend.groups:
        return
    group = backend.groups[logs["groupName"]]
    if logs["streamName"] not in group.streams:
        backend.create_log_stream(logs["groupName"], logs["streamName"])
    backend.put_log_events(logs["groupName"], logs["streamName"],
                           [{"timestamp": int(time.time() * 1000), "message": message}])


def start_build(backend, project_name: str, params: dict) -> dict:
    from moto.utilities.utils import get_partition

    from . import faults

    project = backend.codebuild_projects[project_name].project_metadata
    source = copy.deepcopy(project["source"])
    source["type"] = params.get("sourceTypeOverride") or source["type"]
    source["location"] = params.get("sourceLocationOverride") or source.get("location", "")
    source["buildspec"] = params.get("buildspecOverride") or source.get("buildspec", "")
    environment = copy.deepcopy(project["environment"])
    variables = {v["name"]: v for v in environment.get("environmentVariables", [])}
    variables |= {v["name"]: {"type": "PLAINTEXT", **v} for v in params.get("environmentVariablesOverride") or []}
    environment["environmentVariables"] = list(variables.values())
    run = uuid.uuid4()
    build_id, region, account = f"{project_name}:{run}", backend.region_name, backend.account_id
    group = project.get("logsConfig", {}).get("cloudWatchLogs", {}).get("groupName", f"/aws/codebuild/{project_name}")
    now = _now()
    build = {
        "id": build_id, "arn": f"arn:{get_partition(region)}:codebuild:{region}:{account}:build/{build_id}",
        "buildNumber": len(backend.build_history.setdefault(project_name, [])) + 1, "startTime": now,
        "currentPhase": "QUEUED", "buildStatus": "IN_PROGRESS", "projectName": project_name,
        "phases": [{"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": now, "endTime": now,
                    "durationInSeconds": 0}, {"phaseType": "QUEUED", "startTime": now}],
        "source": source, "environment": environment, "serviceRole": project["serviceRole"],
        "artifacts": {"location": ""}, "buildComplete": False, "initiator": "emulator",
        "timeoutInMinutes": project.get("timeoutInMinutes", 60),
        "logs": {"groupName": group, "streamName": str(run),
                 "deepLink": f"https://console.aws.amazon.com/cloudwatch/home?region={region}#logEvent:group={group};stream={run}"},
    }
    fault = faults.build_fault(project_name)
    missing = _source_missing(source, account)
    fail = (("DOWNLOAD_SOURCE", "CLIENT_ERROR", missing) if missing else
            (fault.phase, "COMMAND_EXECUTION_ERROR", fault.message) if fault else None)
    with _lock:
        _builds[build_id] = {"build": build, "fail": fail, "account": account, "region": region}
    backend.build_history[project_name].append(build_id)
    return copy.deepcopy(build)


def _advance(state: dict) -> None:
    """One phase further: the running one ends (failed, if it is the build's failing phase)."""
    build, fail = state["build"], state["fail"]
    if build["buildComplete"]:
        return
    now, running = _now(), build["phases"][-1]
    failed_here = fail is not None and running["phaseType"] == fail[0]
    running.update(endTime=now, durationInSeconds=1, phaseStatus="FAILED" if failed_here else "SUCCEEDED")
    if failed_here:
        running["contexts"] = [{"statusCode": fail[1], "message": fail[2]}]
        build["buildStatus"] = "FAILED"
        _log(state["account"], state["region"], build, f"[Container] Phase complete: {fail[0]} State: FAILED")
        _log(state["account"], state["region"], build, f"[Container] Phase context status code: {fail[1]} Message: {fail[2]}")
    # A build whose source never arrived skips to FINALIZING, as on AWS.
    after = "FINALIZING" if failed_here and fail[0] in ("PROVISIONING", "DOWNLOAD_SOURCE") else None
    phase = after or PHASES[PHASES.index(running["phaseType"]) + 1]
    build["currentPhase"] = phase
    if phase == "COMPLETED":
        build["phases"].append({"phaseType": "COMPLETED", "startTime": now})
        build.update(buildComplete=True, endTime=now)
        if build["buildStatus"] == "IN_PROGRESS":
            build["buildStatus"] = "SUCCEEDED"
        return
    build["phases"].append({"phaseType": phase, "startTime": now})
    _log(state["account"], state["region"], build, f"[Container] Entering phase {phase}")


def batch_get_builds(ids: list[str]) -> tuple[list[dict], list[str]]:
    found, missing = [], []
    with _lock:
        for build_id in ids:
            state = _builds.get(build_id)
            if state is None:
                missing.append(build_id)
                continue
            _advance(state)
            found.append(copy.deepcopy(state["build"]))
    return found, missing


def _api_casing(props: dict) -> dict:
    """ECR's CloudFormation properties in the API's casing, as CloudFormation's handler sends them."""
    scan = props.get("ImageScanningConfiguration")
    encryption = props.get("EncryptionConfiguration")
    return {**props,
            **({"ImageScanningConfiguration": {"scanOnPush": str(scan.get("ScanOnPush", False)).lower() == "true"}}
               if scan else {}),
            **({"EncryptionConfiguration": {"encryptionType": encryption.get("EncryptionType", "AES256"),
                                            **({"kmsKey": encryption["KmsKey"]} if encryption.get("KmsKey") else {})}}
               if encryption else {})}


def install() -> None:
    from moto.cloudformation import parsing
    from moto.ecr.models import Repository

    create_repository = Repository.create_from_cloudformation_json.__func__

    def repository_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        json_ = {**cloudformation_json, "Properties": _api_casing(cloudformation_json.get("Properties", {}))}
        return create_repository(cls, resource_name, json_, account_id, region_name, **kwargs)

    Repository.create_from_cloudformation_json = classmethod(repository_from_cfn)
    from moto.codebuild.exceptions import InvalidInputException, ResourceNotFoundException
    from moto.codebuild.responses import CodeBuildResponse
    from moto.core.responses import ActionResult

    def start(self) -> ActionResult:
        name = self._get_param("projectName")
        if name not in self.codebuild_backend.codebuild_projects:
            raise ResourceNotFoundException(f"Project cannot be found: {name}")
        overrides = {k: self._get_param(k) for k in OVERRIDES}
        return ActionResult({"build": start_build(self.codebuild_backend, name, overrides)})

    def get(self) -> ActionResult:
        ids = self._get_param("ids")
        if any(":" not in i for i in ids):
            raise InvalidInputException("Invalid build ID provided")
        builds, missing = batch_get_builds(ids)
        return ActionResult({"builds": builds, "buildsNotFound": missing})

    CodeBuildResponse.start_build = start
    CodeBuildResponse.batch_get_builds = get
    parsing.get_model_list.cache_clear()  # the model map is cached: rebuild it with ProjectResource
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
