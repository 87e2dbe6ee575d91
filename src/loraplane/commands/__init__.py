"""The `loraplane` command groups: one module each, registering its own arguments (`add_parser`) next to
its handlers. Handlers import what they use; building the parser imports nothing beyond the standard library."""
