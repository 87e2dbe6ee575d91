"""The embedded AWS: moto in server mode plus the shims in `shims/` for what moto lacks."""
