"""What LoRA Plane adds to vLLM in the serving container: adapters fetched on demand from S3 or a
directory (validated with the ingest rules), budgets, SageMaker body shapes and per-adapter metrics."""
