"""The deployment flow: rule `ModelPackageDecision` -> statemachines/deploy.asl.json -> the handlers
in functions/ -> steps.py (one function per Task, typed by payloads.py) -> decisions.py (pure),
around the stores and services: versions.py and transitions.py and endpoint_lock.py (the catalog
table), base_endpoint.py (SageMaker hosting), serving_modes.py (adapters on the endpoint), smoke.py
(SageMaker runtime), outcomes.py (catalog states and SNS). reconciler.py replays drift through it."""
