"""What the deployment state machine passes to its tasks and gets back: one model per Task input and
output. The fields a Choice state reads (`proceed`, `acquired`, `batched`, `needs_check`, `ready`,
`has_riders`, `kind`, `done`, `component_missing`) are fields here, so a rename breaks a test, not a
deployment."""
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from loraplane_core.adapters.live_manifest import LiveAdapter
from loraplane_core.ingest.payloads import Payload, TaskError  # Payload: validators built on first use
from loraplane_core.package_events import PackageChange, PackageStateChange

AdapterOutcome = Literal["deploy", "retire", "deferred", "incompatible", "superseded", "unchanged",
                         "rejected_not_live", "unknown_version"]


# -- DetectTransition --------------------------------------------------------------------------
class TransitionRequest(Payload):
    event: PackageStateChange  # the "SageMaker Model Package State Change" event (or a reconciler replay)


class TransitionResult(Payload):
    proceed: bool
    why: str
    change: PackageChange | None = None


# -- AcquireEndpointLock / ReleaseEndpointLock ---------------------------------------------------
class AcquireLock(Payload):
    action: Literal["acquire"]
    owner: str  # the execution name
    started_at: str | None = None  # the execution's start: the lock wait is bounded from there
    change: PackageChange | None = None  # an adapter decision waits in the queue (decision_queue.py)


class ReleaseLock(Payload):
    action: Literal["release"]
    owner: str


LockRequest = Annotated[AcquireLock | ReleaseLock, Field(discriminator="action")]


class LockResult(Payload):
    acquired: bool | None = None
    released: bool | None = None
    # The lock holder carried out this decision (lock batching): the outcome it settled it with
    batched: Literal["succeeded", "failed"] | None = None
    batched_by: str | None = None  # that holder's execution


# -- adapter decisions -------------------------------------------------------------------------
class AdapterTarget(Payload):
    """A catalogued adapter version, as the endpoint serves it."""
    package_arn: str
    version: int
    sha256: str
    artifact_uri: str
    base_model: str | None = None
    # From the package's metadata (rate_limits.from_metadata); None: the stack's default applies
    requests_per_second: float | None = None
    tokens_per_minute: int | None = None

    def manifest_entry(self) -> LiveAdapter:
        return LiveAdapter(sha256=self.sha256, version=self.version, package_arn=self.package_arn,
                           base_model=self.base_model, requests_per_second=self.requests_per_second,
                           tokens_per_minute=self.tokens_per_minute)


class AdapterPlan(Payload):
    """What an adapter decision changes on the endpoint (decisions.plan_adapter), then its progress."""
    adapter: str
    outcome: AdapterOutcome
    change: PackageChange
    target: AdapterTarget | None = None  # for "deploy": the version to serve
    previous: AdapterTarget | None = None  # the version live before
    deadline: int = 0  # epoch seconds: CheckAdapter gives up after it
    ready: bool = False
    # Lock batching: queued decisions this lock holder carries out too (decision_queue.py)
    riders: list["Rider"] = Field(default_factory=list)
    needs_check: bool = False  # this plan or a rider deploys a version: CheckAdapter, then a smoke test
    has_riders: bool = False


class Rider(Payload):
    """A queued decision carried out under another execution's lock, with its own outcome."""
    execution: str
    started_at: str
    plan: AdapterPlan
    error: TaskError | None = None  # its check or smoke test failed: rolled back, notified as a failure
    rollback: "AdapterRollback | None" = None


class ApplyAdapter(Payload):
    action: Literal["apply"]
    owner: str  # the execution name: the step checks it still holds the endpoint lock (fencing)
    change: PackageChange


class CheckAdapter(Payload):
    action: Literal["check"]
    deployment: AdapterPlan


class RollBackFailedRiders(Payload):
    """After the smoke test: the riders whose check or smoke test failed are rolled back."""
    action: Literal["rollback_riders"]
    owner: str  # the execution name: the step checks it still holds the endpoint lock (fencing)
    deployment: AdapterPlan
    smoke: "SmokeResult | None" = None


class RollBackAdapter(Payload):
    action: Literal["rollback"]
    owner: str  # the execution name: the step checks it still holds the endpoint lock (fencing)
    deployment: AdapterPlan


AdapterRequest = Annotated[ApplyAdapter | CheckAdapter | RollBackAdapter | RollBackFailedRiders,
                           Field(discriminator="action")]


class AdapterRollback(Payload):
    model_config = ConfigDict(extra="forbid")  # RecordFailure tells it from a BaseDeployment by its fields
    restored: int | None  # the version serving again, or None: the adapter is not served
    changed: bool = True  # False: the decision changed nothing (its batch's riders failed it)


# -- base model decisions ----------------------------------------------------------------------
class BaseTarget(Payload):
    package_arn: str
    version: int
    base_model: str
    model_uri: str


class BaseDeployment(Payload):
    """A base model change in progress. `kind` none: nothing to change (no target)."""
    kind: Literal["create", "update", "unchanged", "none"]
    done: bool = False
    target: BaseTarget | None = None
    model_name: str | None = None
    config_name: str | None = None
    deadline: int = 0
    status: str | None = None
    component_missing: bool = False  # the endpoint is in service without its base component: create it
    restored: int | None = None  # for a rollback: the version serving again
    change: PackageChange | None = None  # the decision acted on (the registry's now, not the event's)


class StartBase(Payload):
    action: Literal["start"]
    owner: str  # the execution name: the step checks it still holds the endpoint lock (fencing)
    change: PackageChange


class CheckBase(Payload):
    action: Literal["check"]
    deployment: BaseDeployment


class CreateBaseComponent(Payload):
    action: Literal["create_component"]
    owner: str  # the execution name: the step checks it still holds the endpoint lock (fencing)
    deployment: BaseDeployment


class RollBackBase(Payload):
    action: Literal["rollback"]
    owner: str  # the execution name: the step checks it still holds the endpoint lock (fencing)
    change: PackageChange
    deployment: BaseDeployment | None = None


class ReattachAdapters(Payload):
    action: Literal["reattach"]
    owner: str  # the execution name: the step checks it still holds the endpoint lock (fencing)
    change: PackageChange
    deployment: BaseDeployment


BaseRequest = Annotated[StartBase | CheckBase | CreateBaseComponent | RollBackBase | ReattachAdapters,
                        Field(discriminator="action")]


class ScalingResult(Payload):
    resource: str
    min: int
    max: int
    policies: list[str] = Field(default_factory=list)
    alarm: str | None = None  # the scale-from-zero alarm (ScaleToZero)


class ReattachResult(Payload):
    attached: list[str] = Field(default_factory=list)  # "<adapter> v<version>"
    incompatible: list[str] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list)
    scaling: ScalingResult | None = None


# -- SmokeTest ---------------------------------------------------------------------------------
class SmokeAdapter(Payload):
    kind: Literal["adapter"]
    deployment: AdapterPlan


class SmokeBase(Payload):
    kind: Literal["base"]
    deployment: BaseDeployment


SmokeRequest = Annotated[SmokeAdapter | SmokeBase, Field(discriminator="kind")]


class SmokeResult(Payload):
    prompt: str
    base: str  # the base model's answer
    adapter: str | None = None  # the adapter's answer
    invoke: dict[str, str] | None = None  # the InvokeEndpoint arguments that reached the adapter
    riders: dict[str, "RiderSmoke"] = Field(default_factory=dict)  # by the rider's execution


class RiderSmoke(Payload):
    adapter: str | None = None  # its answer
    invoke: dict[str, str] | None = None
    error: str | None = None  # why its smoke test failed


# -- RecordAdapterDeployment / RecordBaseDeployment / RecordFailure -----------------------------
class AdapterRecord(Payload):
    kind: Literal["adapter"]
    execution: str
    change: PackageChange
    deployment: AdapterPlan
    smoke: SmokeResult | None = None


class BaseRecord(Payload):
    kind: Literal["base"]
    execution: str
    change: PackageChange
    deployment: BaseDeployment
    smoke: SmokeResult | None = None
    reattach: ReattachResult | None = None


class FailureRecord(Payload):
    kind: Literal["failed"]
    execution: str
    change: PackageChange | None = None
    error: TaskError | None = None
    rollback: AdapterRollback | BaseDeployment | None = None


DeploymentRecord = Annotated[AdapterRecord | BaseRecord | FailureRecord, Field(discriminator="kind")]


class Notified(Payload):
    subject: str
    event: str
