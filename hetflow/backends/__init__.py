"""Backends: per-chip code generators behind one contract (``base.Backend``), found through the registry."""

from hetflow.backends.base import (
    Artifact,
    ArtifactError,
    Backend,
    Estimate,
    Executable,
    UnsupportedNodeError,
    available_backends,
    get_backend,
    register_backend,
)

__all__ = ["Artifact", "ArtifactError", "Backend", "Estimate", "Executable", "UnsupportedNodeError",
           "available_backends", "get_backend", "register_backend"]
