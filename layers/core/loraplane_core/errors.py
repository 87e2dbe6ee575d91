"""Every error a state machine names, as a class: Step Functions matches a Lambda error by its
`errorType`, which is the raised exception's class name, so the ASL files name these classes.
tests/template/test_error_names.py checks both ways: every name in an ASL file is defined here,
and every class here is named by an ASL file, or by THIRD_PARTY (raised by a library's class)."""


class StateMachineError(Exception):
    """An error a state machine routes on."""


# -- ingest ---------------------------------------------------------------------------------------
class IngestFailed(StateMachineError):
    """The ingest Fail state: a task failed after its retries (recorded and notified first)."""


# -- deployment -----------------------------------------------------------------------------------
class VersionNotCatalogued(StateMachineError):
    """The decision's package version is not in the catalog yet (ingest still recording it): retried."""


class LockTimeout(StateMachineError):
    """Another change held the endpoint for longer than LOCK_WAIT_SECONDS."""


class LockLost(StateMachineError):
    """The execution no longer holds the endpoint lock (its lease ran out and another took it): it
    stops before changing anything, and the holder's execution carries on."""


class DeploymentFailed(StateMachineError):
    """The change did not go live (also the deployment Fail state)."""


class DeploymentTimedOut(StateMachineError):
    """The change did not finish within DEPLOYMENT_TIMEOUT_SECONDS."""


class AdapterDeploymentFailed(StateMachineError):
    """SageMaker (or the container) refused the adapter."""


class SmokeTestFailed(StateMachineError):
    """The new version was served but did not answer as an adapter should."""


# A change that ran and did not go live: the deployment record says it was rolled back.
DEPLOYMENT_FAILURES = (SmokeTestFailed, AdapterDeploymentFailed, DeploymentFailed, DeploymentTimedOut)
DEPLOYMENT_FAILURE_NAMES = frozenset(c.__name__ for c in DEPLOYMENT_FAILURES)

# Names the ASL retries on that a library's class raises, with that class's module. Named, not imported:
# importing Powertools' idempotency package here cost every handler's cold start (~16 M instructions).
THIRD_PARTY = {"IdempotencyAlreadyInProgressError": "aws_lambda_powertools.utilities.idempotency.exceptions"}

__all__ = ["StateMachineError", "IngestFailed", "THIRD_PARTY", "VersionNotCatalogued",
           "LockTimeout", "LockLost", "DeploymentFailed", "DeploymentTimedOut", "AdapterDeploymentFailed", "SmokeTestFailed",
           "DEPLOYMENT_FAILURES", "DEPLOYMENT_FAILURE_NAMES"]
