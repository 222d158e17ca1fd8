"""The error hierarchy. Every error a user can cause is a HetflowError with a one-line message."""

from __future__ import annotations


class HetflowError(Exception):
    """Base of every error hetflow raises on purpose; the CLI turns it into one line and exit code 2."""


class ModelError(HetflowError):
    """A model file that cannot be read or imported."""


class UnsupportedOpError(ModelError):
    """A source op that has no mapping for the model's opset."""


class InputError(HetflowError):
    """Inputs fed to a compiled model do not match its signature."""
