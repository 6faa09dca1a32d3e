"""Knowledge distillation: Hinton soft-target KD, hint (feature) losses with 1x1 adapters, student derivation."""
