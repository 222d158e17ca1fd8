"""The README is executable documentation: every command and snippet in it runs, in order, in one empty directory.

Shell blocks run line by line through a shell (the installed ``hetflow`` script, ``make``, ``python -c``), as a
user following the README would; Python blocks run as scripts. Only installing and the test suite itself are
skipped. A command that fails here is a front door that drifted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SKIPPED = ("pip install", "python -m pytest")
"""Lines that install hetflow or run this very suite."""


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)]


def steps(text: str) -> list[tuple[str, str]]:
    """What a reader runs, in order: ("sh", one command line) or ("python", one whole snippet)."""
    out: list[tuple[str, str]] = []
    for language, body in blocks(text):
        if language == "python":
            out.append(("python", body))
        elif language == "sh":
            for line in body.splitlines():
                command = line.strip()
                if command and not command.startswith("#") and not command.startswith(SKIPPED):
                    out.append(("sh", command))
    return out


STEPS = steps(README.read_text())


def test_the_readme_has_the_front_door():
    commands = [body for kind, body in STEPS if kind == "sh"]
    for verb in ("run", "plan", "inspect", "codegen", "targets", "clusters", "models"):
        assert any(c.startswith(f"hetflow {verb}") for c in commands), verb
    assert sum(kind == "python" for kind, _ in STEPS) >= 3
    text = README.read_text()
    assert "docs/ARCHITECTURE.md" in text and (README.parent / "docs" / "ARCHITECTURE.md").is_file()
    assert "emulated" in text.split("## Install")[0]  # said before the first command, not after a plan is printed
    assert "HETFLOW_CACHE_DIR" in text


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme")


@pytest.mark.parametrize("kind,body", STEPS, ids=[f"{k}:{b.splitlines()[0][:60]}" for k, b in STEPS])
def test_every_readme_step_runs(workdir: Path, kind: str, body: str) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the installed `hetflow`
    env["COLUMNS"] = "200"
    if kind == "python":
        script = workdir / "snippet.py"
        script.write_text(body)
        proc = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=600)
    else:
        proc = subprocess.run(body, shell=True, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{body}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
