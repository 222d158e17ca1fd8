"""torch.compile(backend="hetflow"): matches eager; graph breaks split between hetflow and eager; fallbacks counted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from hetflow.integrations.torch_compile import STATS  # noqa: E402


class Branchy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x))
        if y.sum() > 0:  # data-dependent: Dynamo breaks the graph here
            return self.b(y) * 2
        return self.b(y) - 1


class Unmapped(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumprod(x, dim=1) + 1


def _run(model: torch.nn.Module, shapes: list[tuple[int, ...]]) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(model.eval(), backend="hetflow", options={"backend": "reference"})
    with torch.no_grad():
        for shape in shapes:
            x = torch.randn(*shape)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)


def test_graph_break_splits_between_hetflow_and_eager() -> None:
    torch.manual_seed(0)
    STATS.reset()
    _run(Branchy(), [(2, 8), (3, 8), (5, 8)])
    assert STATS.compiled >= 2 and STATS.fallbacks == 0


def test_unconvertible_graph_falls_back_with_reason() -> None:
    STATS.reset()
    _run(Unmapped(), [(2, 4)])
    assert STATS.compiled == 0 and STATS.fallbacks == 1
    assert "cumprod" in STATS.reasons[0]


def test_transformer_encoder_matches_eager() -> None:
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(256, 4, batch_first=True)
    STATS.reset()
    _run(torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), [(1, 8, 256), (2, 8, 256)])
    assert STATS.compiled >= 1


@pytest.mark.parametrize("name", ["bert", "lstm_gru", "mobilenet_v2", "vit",
                                  pytest.param("resnet50", marks=pytest.mark.slow)])
def test_model_set_matches_eager(name: str) -> None:
    """The frontend's model set through torch.compile, at batch 1 and 2 (Dynamo recompiles on the new shape)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "frontends" / "pytorch"))
    from test_torch_models import MODELS, _first, _seeded

    make, inputs = MODELS[name]
    model = _seeded(make)
    torch._dynamo.reset()
    STATS.reset()
    compiled = torch.compile(model, backend="hetflow", options={"backend": "reference"})
    # Dynamo leaves nn.LSTM/GRU to eager unless told to trace them (allow_rnn).
    with torch.no_grad(), torch._dynamo.config.patch(allow_rnn=True):
        for batch in (1, 2):
            args = inputs(batch)
            expected, got = _first(model(*args)), _first(compiled(*args))
            scale = float(expected.abs().max()) + 1e-30
            assert float((got - expected).abs().max()) <= 1e-4 * scale + 1e-5
    assert STATS.compiled >= 1 and STATS.fallbacks == 0, STATS.reasons
