"""Rank-aware training loops: plain on one process, DDP (gloo on CPU) under torchrun."""
