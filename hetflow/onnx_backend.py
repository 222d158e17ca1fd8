"""hetflow's ``onnx.backend`` implementation, under a short public name.

    import hetflow.onnx_backend as backend
    rep = backend.prepare(model, "CPU")
    outputs = rep.run([x])
"""

from hetflow.integrations.onnx_backend import (
    DEVICE_BACKENDS,
    HetflowBackend,
    HetflowBackendRep,
    prepare,
    run_model,
    run_node,
    supports_device,
)

__all__ = [
    "DEVICE_BACKENDS", "HetflowBackend", "HetflowBackendRep", "prepare", "run_model", "run_node", "supports_device",
]
