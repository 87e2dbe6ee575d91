"""The ingest flow: rule `AdapterUploaded` -> statemachines/ingest.asl.json -> the handlers in
functions/ (validate_adapter, register_adapter, record_adapter, notify) -> steps.py (typed by
payloads.py), around the model registry (registry.py), the catalog (../catalog.py), training
provenance (training_metadata.py) and SNS (notifications.py)."""
