"""Strict recipe and target schemas, and the YAML loader that applies CLI overrides."""
