"""What the NVDLA backend can run: one entry per IR op (the engine it maps to, the engine units it needs, and a
check of the node against the hardware's register ranges), answered before anything is lowered.

Only int8 IR (``passes/quantize.py``) and, on configurations with fp16, float16 IR (``passes/half.py``) run
here: a float32 op is refused with the reason, and stays on a CPU, as NVIDIA's own compiler leaves softmax and
other unsupported layers to the CPU. Ranges are those of the register fields
in the NVDLA Hardware Architectural Specification (nvdla.org/hw/v1/hwarch.html): convolution kernels 1-32,
strides 1-8, up to 8192 channels; PDP kernels 1-8, strides 1-16; CDP windows of 3, 5, 7 or 9 channels. A
deconvolution runs as CONV + RUBIK contract, so it takes the CONV ranges on its phase convolution; the contract's
block size is bounded by the same 8 (a choice: the strides it serves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hetflow.backends.nvdla.hw import NvdlaConfig
from hetflow.ir import Node

MAX_CONV_KERNEL = 32
MAX_CONV_STRIDE = 8
MAX_CHANNELS = 8192
MAX_POOL_KERNEL = 8
MAX_POOL_STRIDE = 16
LRN_SIZES = (3, 5, 7, 9)
"""Window lengths the CDP's normalz_len register field encodes."""


@dataclass(frozen=True)
class Entry:
    """How one IR op runs: on ``engine``, needing SDP sub-units ``sdp`` present, if ``check`` finds nothing."""

    engine: str
    check: Callable[[Node], str | None]
    sdp: tuple[str, ...] = ()
    also: Callable[[Node], tuple[str, ...]] = lambda node: ()  # further engines this node needs


def _deconv_engines(node: Node) -> tuple[str, ...]:
    return ("RUBIK",) if max(node.attrs["strides"]) > 1 else ()


def _int8(node: Node, *indices: int) -> str | None:
    for i in indices or range(len(node.inputs)):
        v = node.inputs[i] if i < len(node.inputs) else None
        if v is not None and v.type.dtype.value != "int8":
            return f"input {i} is {v.type}, NVDLA runs int8 only (quantize with precision='int8')"
    return None


def _half(node: Node) -> str | None:
    for i, v in enumerate(node.inputs):
        if v is not None and v.type.dtype.value != "float16":
            return f"input {i} is {v.type}, NVDLA's fp16 pipeline runs float16 (compile with precision='fp16')"
    return None


def _int8_or_half(node: Node) -> str | None:
    """int8, or float16 throughout."""
    first = node.inputs[0]
    return _half(node) if first is not None and first.type.dtype.value == "float16" else _int8(node)


def computes_half(node: Node) -> bool:
    first = node.inputs[0] if node.inputs else None
    return first is not None and first.type.dtype.value == "float16"


def _static4(node: Node) -> str | None:
    for v in [*node.inputs, *node.outputs]:
        if v is not None and not v.type.is_static:
            return f"%{v.name} has a dynamic shape; NVDLA surfaces are fixed cubes"
    return None


def _no_zero_points(node: Node) -> str | None:
    if len(node.inputs) > 2 and any(v is not None for v in node.inputs[2:]):
        return "zero points are not supported (NVDLA quantization is symmetric)"
    return None


def _sdp_params(node: Node) -> str | None:
    """The rescale of a ``*_requant`` node: constant per-channel parameters, symmetric int8 out."""
    if any(v is not None and v.const is None for v in node.inputs[2:5]):
        return "bias, multiplier and shift must be constants (SDP registers and DMA'd parameters)"
    if node.attrs["dtype"] != "int8" or node.attrs["zero_point"] != 0:
        return "the SDP writes symmetric int8 (zero point 0) only"
    return None


def _conv_ranges(node: Node) -> str | None:
    """What the CONV engine takes of any convolution: a constant 4-D weight, group 1, kernel, stride and channels
    within the hardware's ranges."""
    a = node.attrs
    w = node.inputs[1]
    if w is None or w.const is None or w.type.rank != 4:
        return "the weight must be a constant 4-D tensor"
    kernel = w.type.shape[2:]  # type: ignore[index]
    checks = [
        (a["group"] != 1, f"group {a['group']} convolution is not lowered (only group 1)"),
        (max(kernel) > MAX_CONV_KERNEL, f"kernel {kernel[0]}x{kernel[1]} exceeds {MAX_CONV_KERNEL}"),
        (max(a["strides"]) > MAX_CONV_STRIDE, f"stride {a['strides']} exceeds {MAX_CONV_STRIDE}"),
        (max(w.type.shape[:2]) > MAX_CHANNELS, f"channels {w.type.shape[:2]} exceed {MAX_CHANNELS}"),  # type: ignore[index]
    ]
    return next((why for bad, why in checks if bad), None)


def _conv(node: Node) -> str | None:
    return _conv_ranges(node) or _int8(node, 0, 1) or _static4(node)


def _matmul(node: Node) -> str | None:
    a, b = node.inputs[:2]
    if b is None or b.const is None or b.type.rank != 2 or a is None or a.type.rank != 2:
        return "only [N, C] x constant [C, K] runs (as a 1x1 convolution)"
    if max(b.type.shape) > MAX_CHANNELS:  # type: ignore[arg-type]
        return f"channels {b.type.shape} exceed {MAX_CHANNELS}"
    return _int8(node, 0, 1) or _static4(node)


def _requantize(node: Node) -> str | None:
    if node.attrs["dtype"] != "int8" or node.attrs["zero_point"] != 0:
        return "the SDP writes symmetric int8 (zero point 0) only"
    return _static4(node)


def _qadd(node: Node) -> str | None:
    a = node.attrs
    if a["dtype"] != "int8" or a["zero_point"] or a["a_zero_point"] or a["b_zero_point"]:
        return "the SDP element-wise unit adds symmetric int8 (zero point 0) only"
    if node.inputs[0].type.shape != node.inputs[1].type.shape:  # type: ignore[union-attr]
        return "operands must have the same shape (no broadcasting)"
    return _int8(node) or _static4(node)


def _max_pool(node: Node) -> str | None:
    a = node.attrs
    if a["ceil_mode"] or a["with_indices"] or any(d != 1 for d in (a["dilations"] or ())) or len(a["kernel"]) != 2:
        return "only 2-D max pooling without ceil_mode, indices or dilation"
    if max(a["kernel"]) > MAX_POOL_KERNEL or max(a["strides"]) > MAX_POOL_STRIDE:
        return f"pooling kernel {a['kernel']} / stride {a['strides']} exceed {MAX_POOL_KERNEL} / {MAX_POOL_STRIDE}"
    return _int8_or_half(node) or _static4(node)


def _relu(node: Node) -> str | None:
    return _int8_or_half(node) or _static4(node)


def _conv_half(node: Node) -> str | None:
    """A float16 convolution (``passes/half.py``): CONV in fp16 mode, its bias in the SDP."""
    if len(node.inputs) > 2 and node.inputs[2] is not None and node.inputs[2].const is None:
        return "the bias must be a constant (DMA'd SDP parameters)"
    return _conv_ranges(node) or _half(node) or _static4(node)


def _add_half(node: Node) -> str | None:
    a, b = node.inputs[:2]
    if a is None or b is None or a.is_const or b.is_const or a.type.shape != b.type.shape or a.type.rank != 4:
        return "only the sum of two float16 cubes of one shape (the SDP's element-wise unit)"
    return _half(node) or _static4(node)


def _qlrn(node: Node) -> str | None:
    if node.attrs["size"] not in LRN_SIZES:
        return f"LRN window {node.attrs['size']} is not one of the CDP's {LRN_SIZES}"
    if node.inputs[1] is None or node.inputs[1].const is None:
        return "the LRN table must be a constant (the CDP's LUT is programmed before the run)"
    if node.attrs["dtype"] != "int8" or node.inputs[0].type.rank != 4:  # type: ignore[union-attr]
        return "the CDP normalizes int8 NCHW cubes into int8"
    return _int8(node, 0) or _static4(node)


def _deconv(node: Node) -> str | None:
    a = node.attrs
    w = node.inputs[1]
    if w is None or w.const is None or w.type.rank != 4:
        return "the weight must be a constant 4-D tensor"
    cin, m, kh, kw = w.type.shape  # type: ignore[misc]
    st = a["strides"]
    checks = [
        (a["group"] != 1, f"group {a['group']} deconvolution is not lowered (only group 1)"),
        (any(d != 1 for d in a["dilations"]) or any(a["output_padding"]), "dilation and output_padding are not lowered"),
        (st[0] != st[1], f"strides {tuple(st)}: the RUBIK contract moves square blocks (equal strides only)"),
        (max(kh, kw) > MAX_CONV_KERNEL, f"kernel {kh}x{kw} exceeds {MAX_CONV_KERNEL}"),
        (max(st) > MAX_CONV_STRIDE, f"stride {tuple(st)} exceeds {MAX_CONV_STRIDE}"),
        (max(cin, m * st[0] * st[0]) > MAX_CHANNELS,  # type: ignore[operator]
         f"{m} output channels x {st[0]}x{st[0]} phases exceed {MAX_CHANNELS} CONV channels"),
        (st[0] == 1 and max(a["pads"]) > min(kh, kw) - 1, "pads larger than the kernel (stride 1)"),
    ]
    return next((why for bad, why in checks if bad), None) or _int8(node, 0, 1) or _static4(node) or _sdp_params(node)


def _contract(node: Node) -> str | None:
    if node.inputs[0] is None or node.inputs[0].type.rank != 4:
        return "only 4-D NCHW cubes"
    if node.attrs["blocksize"] > MAX_CONV_STRIDE:
        return f"block size {node.attrs['blocksize']} exceeds {MAX_CONV_STRIDE} (the deconvolution strides it serves)"
    return _int8(node) or _static4(node)


def _flatten(node: Node) -> str | None:
    x, y = node.inputs[0], node.outputs[0]
    if x is None or x.type.rank != 4 or y.type.rank != 2 or not x.type.is_static or not y.type.is_static:
        return "only the flattening of a 4-D cube to [N, C*H*W] (a view of the same bytes)"
    n, c, h, w = x.type.shape  # type: ignore[misc]
    if tuple(y.type.shape) != (n, c * h * w):  # type: ignore[arg-type, operator]
        return f"{x.type.shape} -> {y.type.shape} is not a flattening to [N, C*H*W]"
    return _int8_or_half(node)


def _concat(node: Node) -> str | None:
    rank = node.inputs[0].type.rank if node.inputs and node.inputs[0] is not None else None
    if rank != 4 or node.attrs["axis"] not in (1, -3):
        return "only channel concatenation of 4-D cubes (written in place by its producers)"
    return _int8(node) or _static4(node)


TABLE: dict[str, Entry] = {
    "conv_requant": Entry("CONV", lambda n: _conv(n) or _sdp_params(n), ("bs",)),
    "matmul_requant": Entry("CONV", lambda n: _matmul(n) or _sdp_params(n), ("bs",)),
    "conv_integer": Entry("CONV", lambda n: _conv(n) or _no_zero_points(n)),
    "conv": Entry("CONV", _conv_half, ("bs",)),
    "add": Entry("SDP", _add_half, ("ew",)),
    "matmul_integer": Entry("CONV", lambda n: _matmul(n) or _no_zero_points(n)),
    "requantize": Entry("SDP", _requantize, ("bs",)),
    "qadd": Entry("SDP", _qadd, ("ew",)),
    "relu": Entry("SDP", _relu, ("bs",)),
    "max_pool": Entry("PDP", _max_pool),
    "qlrn": Entry("CDP", _qlrn),
    "conv_transpose_requant": Entry("CONV", _deconv, ("bs",), _deconv_engines),
    "depth_to_space": Entry("RUBIK", _contract),
    "concat": Entry("", _concat),  # no engine: producers write into slices of one surface
    "reshape": Entry("", _flatten),  # no engine: a view of the cube's bytes
}
ENGINE_KEYS = {"CONV": "conv", "SDP": "sdp", "PDP": "pdp", "CDP": "cdp", "RUBIK": "rubik", "BDMA": "bdma"}


def supports(node: Node) -> str | None:
    """None when some NVDLA configuration can run ``node``; otherwise why not."""
    entry = TABLE.get(node.op)
    if entry is None:
        return f"op '{node.op}' has no NVDLA engine (int8 {', '.join(TABLE)})"
    return entry.check(node)


def supports_on(node: Node, config: NvdlaConfig) -> str | None:
    """``supports`` plus the configuration's feature matrix: the engine and SDP units the op needs are present."""
    why = supports(node)
    if why is not None:
        return why
    if computes_half(node) and "float16" not in config.precisions:
        return f"configuration {config.name} computes in {'/'.join(config.precisions)}, not float16"
    entry = TABLE[node.op]
    for engine in (entry.engine, *entry.also(node)):
        if engine and not config.has(ENGINE_KEYS[engine]):
            return f"configuration {config.name} has no {engine} engine"
    missing = [u for u in entry.sdp if u not in config.sdp_features]
    if missing:
        return f"configuration {config.name} has no SDP {'/'.join(missing).upper()} unit (needed by {node.op})"
    return None
