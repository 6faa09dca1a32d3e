"""What the distill and prune stages share: transfer data, model records, rank-aware cached steps."""
