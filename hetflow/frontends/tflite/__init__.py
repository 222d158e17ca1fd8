"""The TensorFlow Lite frontend: a ``.tflite`` flatbuffer -> IR through the TFLite mapping table.

This module stays light: the ``tflite`` flatbuffer package is imported when a model is read.
"""

from __future__ import annotations

from typing import Any

from hetflow.frontends.registry import Frontend
from hetflow.frontends.tflite.table import TFLITE_TABLE, table, tflite_op
from hetflow.ir import Graph

IDENTIFIER = b"TFL3"
"""The flatbuffer file identifier, at bytes 4..8 of every TFLite model."""


def _sniff(head: bytes) -> bool:
    return head[4:8] == IDENTIFIER


def import_tflite(source: Any, **options: Any) -> Graph:
    """Read a TFLite model (a path or bytes) into a hetflow Graph."""
    from hetflow.frontends.tflite.importer import import_model

    return import_model(source, **options)


FRONTEND = Frontend("tflite", load=import_tflite, sniff=_sniff, suffixes=(".tflite",))

__all__ = ["FRONTEND", "IDENTIFIER", "TFLITE_TABLE", "import_tflite", "table", "tflite_op"]
