"""Shared mechanics of backends that build native code at run time (cpu_c's C, fpga_hls's C simulation).

A compiler is identified once per process by its ``--version`` line (so that cache keys change when
the compiler does); a build writes to a temporary file and renames it into the cache, so a
concurrent or interrupted build never leaves a half-written library behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hetflow.ir.errors import HetflowError


class CompilerNotFoundError(HetflowError):
    """The compiler a backend builds with is not installed or cannot run."""


class CompileError(HetflowError):
    """The compiler rejected a generated file; the message carries its diagnostics."""


@dataclass
class CompileStats:
    """Counts for this process: how often a compiler ran, and how often the cache answered."""

    compiler_runs: int = 0
    cache_hits: int = 0
    seconds: float = 0.0


_identity: dict[str, str] = {}


def compiler_identity(command: str, missing: str) -> str:
    """``command --version``'s first line, once per process; ``missing`` is the error text when it is absent."""
    if command in _identity:
        return _identity[command]
    path = shutil.which(command)
    if path is None:
        raise CompilerNotFoundError(missing)
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompilerNotFoundError(f"compiler '{command}' ({path}) cannot run: {exc}") from None
    text = (out.stdout or out.stderr).strip()
    _identity[command] = f"{path}: {text.splitlines()[0] if text else '?'}"
    return _identity[command]


def build_library(
    compiler: str, flags: list[str], lib: Path, stats: CompileStats, what: str, *, trim: bool = False
) -> None:
    """Run ``compiler *flags -o <tmp>`` and move the result to ``lib``; ``what`` names the source in errors.

    With ``trim`` only the first error lines are shown (template errors run to thousands of lines).
    """
    lib.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=lib.parent)
    os.close(fd)
    cmd = [compiler, *flags, "-o", tmp]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        os.unlink(tmp)
        raise CompilerNotFoundError(f"compiler '{compiler}' cannot run: {exc}") from None
    stats.compiler_runs += 1
    stats.seconds += time.perf_counter() - start
    if proc.returncode != 0:
        os.unlink(tmp)
        message = (proc.stderr or proc.stdout).strip()
        raise CompileError(f"{compiler} failed to compile {what}:\n{first_errors(message) if trim else message}\n"
                           f"command: {' '.join(cmd)}")
    os.replace(tmp, lib)


def first_errors(text: str, limit: int = 30) -> str:
    """The compiler's first error lines and a count of the rest."""
    lines = text.splitlines()
    errors = [k for k, line in enumerate(lines) if "error" in line]
    start = max(errors[0] - 2, 0) if errors else 0
    shown = lines[start:start + limit]
    more = len(lines) - start - len(shown)
    return "\n".join(shown) + (f"\n... ({more} more lines)" if more > 0 else "")


def read_artifact_manifest(directory: Path, filename: str, kind: str, version: int) -> dict:
    """The JSON manifest of a saved compiled artifact, checked for its format version; one-line errors otherwise."""
    try:
        manifest = json.loads((directory / filename).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HetflowError(f"{directory}: not a saved {kind} artifact ({exc})") from None
    if manifest.get("version") != version:
        raise HetflowError(f"{directory}: {kind} artifact version {manifest.get('version')}; this hetflow reads "
                           f"{version}; compile the graph again")
    return manifest
