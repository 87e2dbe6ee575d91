"""The stack's own CloudWatch metrics: fixed names, what happened in dimensions.

Namespace and `service` dimension come from the functions' environment (template.yaml Globals):
POWERTOOLS_METRICS_NAMESPACE `LoRAPlane`, POWERTOOLS_SERVICE_NAME `<project>-<id>` (projects sharing
an account stay apart). METRICS is the one list of names and their dimensions: the dashboard, the
alarms and docs/operations.md use only these (tests/template/test_observability.py checks)."""
import warnings

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

# Every metric goes through emit(): the handlers' Metrics object only carries the cold start, so
# its "no application metrics" warning says nothing.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# name -> its dimensions besides `service` (bounded values only: never adapter names or ids)
METRICS: dict[str, tuple[str, ...]] = {
    "Upload": ("outcome",),            # validate: valid, incomplete, duplicate, rejected, ignored
    "UploadRejected": ("reason",),     # validate: the rejection's reason code
    "AdapterRegistered": (),           # register: a new model package version
    "Recorded": ("kind",),             # record: registered, rejected, failed (first time only)
    "DuplicateOutcome": ("kind",),     # record: a replayed event's outcome, already recorded
    "Notified": ("kind",),             # notify
    "Decision": ("result",),           # decision: acted_on, ignored
    "AdapterStep": ("step",),          # adapter: apply, check, rollback
    "BaseStep": ("step",),             # basemodel: start, check, create_component, rollback, reattach
    "SmokeTest": ("result",),          # smoke: passed, failed
    "Deployment": ("outcome",),        # outcome: deployment.<outcome> of the notification, or rolled_back
    "DriftFound": (),                  # reconcile: differences found this round (0 when none)
    "LockWaitSeconds": (),             # lock: how long this deployment has waited for the endpoint lock
}
UNITS = {"LockWaitSeconds": MetricUnit.Seconds}


def emit(name: str, value: float = 1, **dimensions: str) -> None:
    """One data point with exactly its own dimensions (and `service`), written at once as its own EMF
    document: Metrics.add_dimension would put a dimension on every metric of the invocation."""
    if set(dimensions) != set(METRICS[name]):
        raise ValueError(f"metric {name} takes dimensions {METRICS[name]}, not {tuple(dimensions)}")
    if is_metrics_disabled():  # single_metric prints even then
        return
    with single_metric(name=name, unit=UNITS.get(name, MetricUnit.Count), value=value,
                       default_dimensions={k: str(v) for k, v in dimensions.items()}):
        pass
