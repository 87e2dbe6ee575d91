"""What an adapter upload is and what makes it valid, shared by ingest (the Validate step) and the
serving container (which validates again before loading): the upload layout (upload_layout.py),
the rules (validation.py: config.py, safetensors_header.py, target_regex.py, against a base model's
profile base_profile.py), archives (archive.py, staging.py, s3_upload.py), the named rejection
reasons (reasons.py), and per-adapter rate limits as settings (rate_limits.py)."""
