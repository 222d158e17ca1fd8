"""IR op families. Importing this package registers every op."""

from hetflow.ir.ops import control, elementwise, extra, nn, quant, reduce, resize, shape  # noqa: F401
