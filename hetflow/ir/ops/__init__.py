"""IR op families. Importing this package registers every op."""

from hetflow.ir.ops import elementwise, extra, nn, reduce, shape  # noqa: F401
