"""The NVDLA loadable: memory list, tensor descriptors and a command stream of engine op descriptors.

Written as ``loadable.json`` (versioned, validated against the schema below on load), ``weights.npz`` (the
constant blobs the descriptors name: int8 weights padded to the MAC atoms, int32 bias, SDP multipliers and
shifts) and ``loadable.txt`` (a human-readable dump). A loadable that fails the schema, names a blob or
tensor it does not have, or has a dependency count that disagrees with its producers is refused with one
line naming the field.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hetflow.ir.errors import HetflowError

FORMAT = "hetflow-nvdla-loadable"
VERSION = 1
ITEMSIZE = {"int8": 1, "float16": 2}
"""Bytes per element of each surface precision."""


class LoadableError(HetflowError):
    """A loadable that cannot be read: missing, corrupted, the wrong version, or inconsistent."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class MemoryDesc(_Model):
    """One memory region: ``dram`` for feature surfaces, ``weights`` for the constant blobs."""

    id: int = Field(ge=0)
    kind: Literal["dram", "weights"]
    size: int = Field(ge=0)


class TensorDesc(_Model):
    """A feature surface: where it lives and its NCHW cube (int8 or float16, channels padded to the memory atom);
    offset and strides in bytes."""

    name: str
    memory: int = Field(ge=0)
    offset: int = Field(ge=0)
    dims: tuple[int, int, int, int]
    channel_stride: int = Field(ge=1, description="bytes between channels (one plane: H x W elements)")
    batch_stride: int = Field(ge=1, description="bytes between images")
    dtype: Literal["int8", "float16"] = "int8"

    @property
    def nbytes(self) -> int:
        return self.dims[0] * self.batch_stride

    @property
    def itemsize(self) -> int:
        return ITEMSIZE[self.dtype]


class OpDesc(_Model):
    """One engine operation."""

    id: int = Field(ge=0)
    engine: Literal["CONV", "SDP", "PDP", "CDP", "RUBIK", "BDMA"]
    name: str
    nodes: list[str] = Field(description="the IR nodes this op computes")
    inputs: list[str] = Field(description="tensor names read from memory")
    output: str | None = Field(description="tensor written to memory; None when the op streams into its consumer")
    params: dict[str, Any]
    blobs: list[str] = Field(default_factory=list, description="weights.npz entries the op reads")
    dependency_count: int = Field(ge=0)
    consumers: list[int]
    fused_parent: int | None = Field(None, description="the op whose output streams into this one (CONV -> SDP)")


class Loadable(_Model):
    """A compiled NVDLA program."""

    format: Literal["hetflow-nvdla-loadable"] = FORMAT
    version: int
    config: dict[str, Any]
    memory: list[MemoryDesc]
    tensors: list[TensorDesc]
    ops: list[OpDesc]
    inputs: list[str]
    outputs: list[str]

    def tensor(self, name: str) -> TensorDesc:
        for t in self.tensors:
            if t.name == name:
                return t
        raise LoadableError(f"loadable: no tensor descriptor named {name!r}")

    def check(self, blobs: dict[str, np.ndarray]) -> None:
        """Cross-references: tensors, blobs, producers and dependency counts agree."""
        names = {t.name for t in self.tensors}
        mems = {m.id: m for m in self.memory}
        for t in self.tensors:
            if t.memory not in mems or t.offset + t.nbytes > mems[t.memory].size:
                raise LoadableError(f"loadable: tensor {t.name!r} lies outside memory {t.memory}")
        for name in self.inputs + self.outputs:
            if name not in names:
                raise LoadableError(f"loadable: graph tensor {name!r} has no descriptor")
        ids = {op.id for op in self.ops}
        incoming = {op.id: 0 for op in self.ops}
        for op in self.ops:
            for name in op.inputs + ([op.output] if op.output else []):
                if name not in names:
                    raise LoadableError(f"loadable: op {op.id} ({op.name}) names tensor {name!r}, which has no descriptor")
            for blob in op.blobs:
                if blob not in blobs:
                    raise LoadableError(f"loadable: op {op.id} ({op.name}) reads blob {blob!r}, missing from weights.npz")
            for c in op.consumers:
                if c not in ids:
                    raise LoadableError(f"loadable: op {op.id} ({op.name}) names consumer {c}, which does not exist")
                incoming[c] += 1
        for op in self.ops:
            if incoming[op.id] != op.dependency_count:
                raise LoadableError(f"loadable: op {op.id} ({op.name}) has dependency_count {op.dependency_count} "
                                    f"but {incoming[op.id]} producer(s) name it")


def save(loadable: Loadable, blobs: dict[str, np.ndarray], directory: Path) -> list[Path]:
    """Write loadable.json, weights.npz and loadable.txt into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "loadable.json", directory / "weights.npz", directory / "loadable.txt"]
    paths[0].write_text(loadable.model_dump_json(indent=1))
    np.savez(paths[1], **blobs)
    paths[2].write_text(dump(loadable, blobs))
    return paths


def load(directory: Path) -> tuple[Loadable, dict[str, np.ndarray]]:
    """Read and check a loadable written by ``save``; LoadableError (one line) for anything wrong."""
    path = Path(directory) / "loadable.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise LoadableError(f"{path}: no loadable here") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LoadableError(f"{path}: corrupted loadable (not JSON: {exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise LoadableError(f"{path}: not an NVDLA loadable (format {raw.get('format') if isinstance(raw, dict) else None!r})")
    if raw.get("version") != VERSION:
        raise LoadableError(f"{path}: loadable version {raw.get('version')!r}; this hetflow reads version {VERSION}")
    try:
        loadable = Loadable.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise LoadableError(f"{path}: field {where}: {err['msg']}") from None
    try:
        with np.load(Path(directory) / "weights.npz") as npz:
            blobs = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise LoadableError(f"{Path(directory) / 'weights.npz'}: corrupted weights ({exc})") from None
    loadable.check(blobs)
    return loadable, blobs


def dump(loadable: Loadable, blobs: dict[str, np.ndarray]) -> str:
    """The human-readable listing: memories, tensors, then one line per op."""
    lines = [f"NVDLA loadable v{loadable.version} for {loadable.config.get('name')}: "
             f"{len(loadable.ops)} ops, {len(loadable.tensors)} tensors",
             f"inputs: {', '.join(loadable.inputs)}   outputs: {', '.join(loadable.outputs)}", "memory:"]
    lines += [f"  mem{m.id} {m.kind:8s} {m.size} bytes" for m in loadable.memory]
    lines.append("tensors:")
    lines += [f"  {t.name:32s} mem{t.memory}+0x{t.offset:08x}  {'x'.join(map(str, t.dims))}  {t.dtype}"
              for t in loadable.tensors]
    lines.append("ops:")
    for op in loadable.ops:
        fused = f" fused<-{op.fused_parent}" if op.fused_parent is not None else ""
        params = " ".join(f"{k}={v}" for k, v in op.params.items())
        lines.append(f"  #{op.id:<3d} {op.engine:5s} {op.name:28s} in={op.inputs} out={op.output} deps={op.dependency_count} "
                     f"-> {op.consumers}{fused}  {params}")
    return "\n".join(lines) + "\n"
