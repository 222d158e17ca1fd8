"""Framework-facing adapters that sit above the compiler: ``onnx.backend`` (and, later, ``torch.compile``)."""
