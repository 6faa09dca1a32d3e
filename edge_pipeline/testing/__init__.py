"""Tiny models and data for tests and examples (torchao-style ``example_inputs``)."""
