"""Faster inference: ONNX export checked against PyTorch (onnx) and int8 (quantize)."""
