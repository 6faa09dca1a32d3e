"""Structural channel pruning on torch-pruning: importance criteria, budgets, iterative schedule, recovery."""
