"""PyTorch frontend: the issue's model set vs eager, at batch 1 and 3 through the symbolic batch dim."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import hetflow as hf  # noqa: E402


class RNN(torch.nn.Module):
    """An LSTM feeding a GRU, in plain torch."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(16, 32, batch_first=True)
        self.gru = torch.nn.GRU(32, 32, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x)
        z, _ = self.gru(y)
        return z


def _seeded(make: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    torch.manual_seed(0)
    return make().eval()


T = transformers
MODELS = {
    # ResNet-50 is the default config; reduced resolution keeps CI time down.
    "resnet50": (lambda: T.ResNetModel(T.ResNetConfig()), lambda b: (torch.randn(b, 3, 64, 64),)),
    "mobilenet_v2": (lambda: T.MobileNetV2Model(T.MobileNetV2Config(image_size=64)), lambda b: (torch.randn(b, 3, 64, 64),)),
    "vit": (lambda: T.ViTModel(T.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                                           image_size=32, patch_size=8)), lambda b: (torch.randn(b, 3, 32, 32),)),
    "bert": (lambda: T.BertModel(T.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                              intermediate_size=128, vocab_size=100)),
             lambda b: (torch.randint(0, 100, (b, 8)),)),
    "transformer_encoder": (lambda: torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(256, 4, batch_first=True), 2,
                                                                enable_nested_tensor=False),
                            lambda b: (torch.randn(b, 8, 256),)),
    "lstm_gru": (RNN, lambda b: (torch.randn(b, 5, 16),)),
}


def _first(out: object) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        return out[0]
    return getattr(out, "last_hidden_state", out)  # transformers' ModelOutput


@pytest.fixture(scope="module", params=sorted(MODELS))
def converted(request: pytest.FixtureRequest) -> tuple:
    make, inputs = MODELS[request.param]
    model = _seeded(make)
    return request.param, model, inputs, hf.from_torch(model, inputs(1))


@pytest.mark.parametrize("backend", ["reference", "cpu_c"])
def test_model_matches_eager(converted: tuple, backend: str) -> None:
    name, model, inputs, graph = converted
    assert graph.inputs[0].type.shape[0] == "batch"
    plan = hf.compile(graph, backend=backend)
    for batch in (1, 3):
        torch.manual_seed(batch)
        args = inputs(batch)
        with torch.no_grad():
            expected = _first(model(*args)).numpy()
        got = plan.run({v.name: a.numpy() for v, a in zip(graph.inputs, args)})[graph.outputs[0].name]
        assert got.shape == expected.shape
        scale = max(float(np.abs(expected).max()), 1e-30)  # MobileNetV2's random init gives tiny activations
        assert np.abs(got - expected).max() <= 1e-4 * scale + 1e-5, name
