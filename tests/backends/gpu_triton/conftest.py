"""Every gpu_triton test needs the gpu extra; without it they are skipped with the line that installs it."""

from __future__ import annotations

import pytest

from hetflow.backends.gpu_triton.runtime import available

missing = available()
if missing is not None:
    pytest.skip(missing, allow_module_level=True)
