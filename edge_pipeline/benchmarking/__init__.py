"""Timing and accuracy measurement. The worker path imports numpy and one runtime, never torch."""
