"""The ONNX mapping table, one module per op family. Importing this package registers it."""

from hetflow.frontends.onnx.mappings import elementwise, misc, nn, reduce, shape  # noqa: F401
