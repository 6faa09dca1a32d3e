"""TensorRT backend. Its Q/DQ models are checked and calibrated in ONNX Runtime, so the ONNX Runtime
backend package loads first: ONNX Runtime's telemetry is then off before onnxruntime is imported."""

import edge_pipeline.backends.onnxruntime  # noqa: F401
