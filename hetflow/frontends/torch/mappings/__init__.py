"""ATen mappings by op family; importing this package registers them all."""

from hetflow.frontends.torch.mappings import creation, elementwise, nn, reduce, shape  # noqa: F401
