"""ONNX Runtime backend. Importing it first keeps ONNX Runtime's usage telemetry off (see telemetry.py)."""

from edge_pipeline.backends.onnxruntime.telemetry import keep_telemetry_off

keep_telemetry_off()
