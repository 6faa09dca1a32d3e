"""Loading PyTorch models from recipes, exporting them to ONNX, and measuring their size."""
