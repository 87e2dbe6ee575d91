"""LoRA Plane as a SageMaker Project template: publish it (Service Catalog and S3 routes) and
delete a project's stack cleanly. See docs/project-template.md."""
