"""Explicit Q/DQ INT8 for TensorRT, as pure ONNX graph work (onnx + numpy, no runtime, no torch).

``placement`` decides where Q/DQ pairs go (TensorRT's fusion rules), ``insert`` rewrites the
graph with the calibrated scales, ``checks`` verifies the invariants TensorRT 10/11 rely on.
"""
