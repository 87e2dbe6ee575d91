"""LoRA Plane domain code shared by every Lambda (shipped as the `core` layer)
and by the serving container: adapter validation, registry, catalog, notifications."""
