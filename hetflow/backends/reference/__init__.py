"""The NumPy reference backend: an interpreter of the IR, the oracle for every other backend."""

from hetflow.backends.base import register_backend
from hetflow.backends.reference.interpreter import ReferenceBackend, ReferenceExecutable

register_backend("reference", ReferenceBackend)

__all__ = ["ReferenceBackend", "ReferenceExecutable"]
