"""Developer tools: tiny models and adapters built offline, for tests and demos."""
