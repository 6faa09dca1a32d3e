"""Fidelity: every quantized artifact checked against FP32 per output, the per-layer divergence
profile, and the fallback that keeps layers float until the floor holds. One capability, one
package; each backend supplies 'outputs of these layers on this feed' (Backend.layer_outputs)."""
