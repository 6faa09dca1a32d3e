"""OpenVINO backend. Importing it first keeps Intel's usage telemetry off (see telemetry.py)."""

from edge_pipeline.backends.openvino.telemetry import keep_telemetry_off

keep_telemetry_off()
