"""Backends: per-chip code generators. Each declares which IR nodes it supports and compiles subgraphs."""

from hetflow.backends.base import Backend, Executable, get_backend, register_backend

__all__ = ["Backend", "Executable", "get_backend", "register_backend"]
