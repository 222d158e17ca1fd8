"""IR op families. Importing this package registers every op."""

from hetflow.ir.ops import elementwise, nn, reduce, shape  # noqa: F401
