"""TFLite mappings by op family; importing this package registers them all."""

from hetflow.frontends.tflite.mappings import elementwise, nn, shape  # noqa: F401
