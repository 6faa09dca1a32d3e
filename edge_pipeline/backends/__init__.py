"""Runtimes. Only the modules in this package import onnxruntime, openvino/nncf or tensorrt."""
