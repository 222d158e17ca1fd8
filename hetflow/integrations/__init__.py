"""Framework-facing adapters that sit above the compiler: ``onnx.backend`` and the ``torch.compile`` backend."""
