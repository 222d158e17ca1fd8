"""The NumPy reference backend: an interpreter of the IR, the oracle for every other backend."""

from hetflow.backends.reference.interpreter import ReferenceBackend, ReferenceExecutable

# Registered through the entry points in pyproject.toml (hetflow.backends / hetflow.drivers), not here.

__all__ = ["ReferenceBackend", "ReferenceExecutable"]
