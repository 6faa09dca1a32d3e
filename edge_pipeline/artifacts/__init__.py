"""Artifact records, content hashing, atomic writes, the stage cache and the bundle manifest."""
