"""The ONNX mapping table, one module per op family. Importing this package registers it."""

from hetflow.frontends.onnx.mappings import (  # noqa: F401
    composite,
    control,
    elementwise,
    extra,
    misc,
    nn,
    quantize,
    recurrent,
    reduce,
    shape,
)
