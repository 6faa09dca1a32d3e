"""The engine: checks a recipe's stage list, runs the stages, owns cache keys and lineage."""
