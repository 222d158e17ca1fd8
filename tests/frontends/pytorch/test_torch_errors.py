"""PyTorch frontend: bad input gets one line naming what and where."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import hetflow as hf  # noqa: E402


class DataDependent(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # export cannot trace a branch on data
            return x + 1
        return x - 1


class Unmapped(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumprod(x, dim=1)


def test_export_rejection_is_one_line() -> None:
    with pytest.raises(hf.ModelError, match="torch.export rejected the module") as info:
        hf.from_torch(DataDependent(), (torch.randn(2, 3),))
    assert "\n" not in str(info.value)


def test_unmapped_op_names_op_location_and_list() -> None:
    with pytest.raises(hf.UnsupportedOpError) as info:
        hf.from_torch(Unmapped(), (torch.randn(2, 3),))
    message = str(info.value)
    assert "'cumprod'" in message and "test_torch_errors.py" in message
    assert "hetflow ops --frontend torch" in message and "\n" not in message


def test_load_without_example_inputs() -> None:
    with pytest.raises(hf.HetflowError, match="example_inputs"):
        hf.load(Unmapped())
