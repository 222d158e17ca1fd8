"""The ONNX light model zoo, with random weights, on hetflow's reference backend against onnxruntime.

AlexNet, VGG-19 and ZFNet-512 carry 240-550 MB of fully-connected weights; they are marked slow
and run only when asked for (``pytest -m slow tests/models``), so that this file stays well under a
minute on two cores by default.
"""

import numpy as np
import onnx
import pytest
from zoo import MODELS, randomized, run_onnxruntime

import hetflow as hf

BIG = {"alexnet", "vgg19", "zfnet512"}
RTOL, ATOL = 1e-3, 1e-4


PARAMS = [pytest.param(name, marks=[pytest.mark.slow] if name in BIG else [], id=name) for name in MODELS]


@pytest.mark.parametrize("name", PARAMS)
def test_zoo_model_matches_onnxruntime(name, request):
    if name in BIG and "slow" not in (request.config.option.markexpr or ""):
        pytest.skip("large-weight model: run with -m slow")
    zoo = randomized(name, seed=0)
    want = run_onnxruntime(zoo)[zoo.logits]
    graph = hf.load(zoo.model)
    got = hf.compile(graph).run(zoo.feeds)[zoo.logits]
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.std(want) > 0.5, "random weights should spread the logits"
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=name)


def test_randomized_model_has_no_constant_weights_and_depends_on_its_input():
    zoo = randomized("squeezenet", seed=1)
    assert not any(n.op_type in ("ConstantOfShape", "Softmax") for n in zoo.model.graph.node)
    weights = [onnx.numpy_helper.to_array(t) for t in zoo.model.graph.initializer]
    assert all(np.std(w) > 0 for w in weights if w.dtype == np.float32 and w.size > 1)
    plan = hf.compile(hf.load(zoo.model))
    (name, x), = zoo.feeds.items()
    first = plan.run({name: x})[zoo.logits]
    second = plan.run({name: np.flip(x, axis=-1).copy()})[zoo.logits]
    assert not np.allclose(first, second, rtol=1e-2, atol=1e-2)


def test_randomization_is_seeded():
    a, b, c = randomized("squeezenet", seed=3), randomized("squeezenet", seed=3), randomized("squeezenet", seed=4)
    first = {t.name: t.raw_data for t in a.model.graph.initializer}
    assert first == {t.name: t.raw_data for t in b.model.graph.initializer}
    assert first != {t.name: t.raw_data for t in c.model.graph.initializer}
