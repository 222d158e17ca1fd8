"""ONNX reductions -> IR reduce ops."""
