"""The machine description schema: one chip, as data, validated on load.

A description says what a chip is (kind, backend, vendor), how fast it is (clock, peak ops/s per
dtype, memory and link bandwidth and latency, power), what it holds (compute units, on-chip memory,
board resources such as DSP slices or MACs) and what it can run (IR ops, dtypes, and per-op rules
from a small vocabulary). Quantities are given in base units or as datasheet strings ("4.8 TB/s").
"""

from __future__ import annotations

import functools
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from hetflow.ir.dtypes import DType
from hetflow.ir.errors import HetflowError
from hetflow.ir.graph import Node, Value
from hetflow.targets.units import BANDWIDTH, BYTES, FREQUENCY, OPS_RATE, POWER, parse_quantity, parse_seconds


class DescriptionError(HetflowError):
    """A machine or cluster description that cannot be read: names the file, the field and what is expected."""


Kind = Literal["cpu", "gpu", "fpga", "asic"]
M = TypeVar("M", bound=BaseModel)
Bytes = Annotated[int, BeforeValidator(lambda v: round(parse_quantity(v, BYTES)))]
BytesPerSecond = Annotated[float, BeforeValidator(lambda v: parse_quantity(v, BANDWIDTH))]
Hertz = Annotated[float, BeforeValidator(lambda v: parse_quantity(v, FREQUENCY))]
OpsPerSecond = Annotated[float, BeforeValidator(lambda v: parse_quantity(v, OPS_RATE))]
Watts = Annotated[float, BeforeValidator(lambda v: parse_quantity(v, POWER))]
Seconds = Annotated[float, BeforeValidator(parse_seconds)]

_DTYPE_NAMES = tuple(d.value for d in DType)
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9.+-]*$")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


def _dtype_name(raw: object) -> str:
    if raw not in _DTYPE_NAMES:
        raise ValueError(f"expected a dtype ({', '.join(_DTYPE_NAMES)}), got {raw!r}")
    return str(raw)


DTypeName = Annotated[str, BeforeValidator(_dtype_name)]


def _op_list(raw: object) -> tuple[str, ...]:
    """``"*"`` (every op) or a list of IR op names; ``["*"]`` is read as ``"*"``."""
    if raw == "*" or (isinstance(raw, (list, tuple)) and list(raw) == ["*"]):
        return ("*",)
    if not isinstance(raw, (list, tuple)) or not all(isinstance(x, str) and _IDENT.match(x) for x in raw):
        raise ValueError(f'expected "*" or a list of IR op names such as ["conv", "relu"], got {raw!r}')
    return tuple(raw)


def _dump_op_list(ops: tuple[str, ...]) -> str | tuple[str, ...]:
    """Written back the way a description file says it: every op as ``"*"``, so that a dump validates again."""
    return "*" if ops == ("*",) else ops


OpList = Annotated[tuple[str, ...], BeforeValidator(_op_list), PlainSerializer(_dump_op_list)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compute(_Model):
    """What the chip computes with."""

    units: PositiveInt = Field(description="count of compute units (cores, SMs, DSP slices, MACs)")
    unit_name: str = Field(description='what one unit is, e.g. "core", "SM", "DSP slice", "MAC"')
    threads: PositiveInt | None = Field(None, description="hardware threads, where they differ from units")


class Memory(_Model):
    """The device's own (off-chip) memory."""

    capacity: Bytes = Field(description="bytes, e.g. '141 GB'")
    bandwidth: BytesPerSecond = Field(description="bytes per second, e.g. '4.8 TB/s'")
    kind: str = Field("", description='e.g. "HBM3e" or "DDR5-4800, 8 channels"')


class OnChip(_Model):
    """Memory on the die: caches, shared memory, BRAM/URAM, convolution buffers."""

    capacity: Bytes = Field(description="bytes, e.g. '50 MB'")
    kind: str = Field("", description='e.g. "L2 + L1/shared" or "BRAM + URAM"')


class HostLink(_Model):
    """How data gets between host memory and the device."""

    kind: str = Field(description='e.g. "PCIe 5.0 x16" or "host memory"')
    bandwidth: BytesPerSecond = Field(description="bytes per second in one direction, e.g. '64 GB/s'")
    latency: Seconds = Field(description="seconds, e.g. '5 us'")
    shared_memory: bool = Field(False, description="true when the device reads host memory in place (no copy)")


class Launch(_Model):
    """Fixed costs of starting work on the device, whatever the work: what a roofline leaves out."""

    kernel: Seconds = Field(description="seconds to start one kernel (one op or fused group), e.g. '4 us'")
    subgraph: Seconds = Field(description="seconds to hand the device one subgraph and learn it finished, e.g. '10 us'")

    @field_validator("kernel", "subgraph")
    @classmethod
    def _not_negative(cls, v: float) -> float:
        if not 0 <= v < 1:
            raise ValueError(f"expected a launch overhead between 0 and 1 s, got {v!r} s")
        return v


# ---------------------------------------------------------------- capability rules


def _kernel(node: Node) -> tuple[int, ...] | None:
    """Spatial kernel of a windowed op: the ``kernel`` attribute, else a conv weight's trailing dims."""
    if "kernel" in node.attrs:
        return tuple(int(k) for k in node.attrs["kernel"])
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        shape = node.inputs[1].type.shape
        if shape is not None and len(shape) >= 3 and all(isinstance(d, int) for d in shape[2:]):
            return tuple(int(d) for d in shape[2:])
    return None


def _values(node: Node) -> list[Value]:
    return [v for v in (*node.inputs, *node.outputs) if v is not None]


def _data_values(node: Node) -> list[Value]:
    """The data input and the outputs: the tensors that carry batch and channels (weights do not)."""
    first = node.inputs[0] if node.inputs else None
    return [v for v in (first, *node.outputs) if v is not None]


def _check_dtypes(node: Node, allowed: tuple[str, ...]) -> str | None:
    for v in _values(node):
        if v.type.dtype.value not in allowed:
            return f"dtype {v.type.dtype} of %{v.name} is not one of {', '.join(allowed)}"
    return None


def _check_max_kernel(node: Node, limit: int) -> str | None:
    kernel = _kernel(node)
    if kernel and max(kernel) > limit:
        return f"kernel {'x'.join(map(str, kernel))} exceeds max_kernel {limit}"
    return None


def _check_max_stride(node: Node, limit: int) -> str | None:
    strides = node.attrs.get("strides") or ()
    if strides and max(strides) > limit:
        return f"strides {list(strides)} exceed max_stride {limit}"
    return None


def _check_max_channels(node: Node, limit: int) -> str | None:
    # Channels are dim 1 of NC[D]HW tensors.
    for v in _data_values(node):
        shape = v.type.shape
        if shape is not None and len(shape) >= 3 and isinstance(shape[1], int) and shape[1] > limit:
            return f"%{v.name} has {shape[1]} channels, over max_channels {limit}"
    return None


def _check_max_batch(node: Node, limit: int) -> str | None:
    # The batch is dim 0 of NC[D]HW tensors; a symbolic batch cannot be proved to fit.
    for v in _data_values(node):
        shape = v.type.shape
        if shape is not None and len(shape) >= 3 and (not isinstance(shape[0], int) or shape[0] > limit):
            return f"%{v.name} has batch {shape[0]}, over max_batch {limit}"
    return None


def _check_max_rank(node: Node, limit: int) -> str | None:
    for v in _values(node):
        if v.type.rank is not None and v.type.rank > limit:
            return f"%{v.name} has rank {v.type.rank}, over max_rank {limit}"
    return None


def _check_max_elements(node: Node, limit: int) -> str | None:
    for v in _values(node):
        n = v.type.numel
        if n is None:
            return f"%{v.name} ({v.type}) has no static size to check against max_elements {limit}"
        if n > limit:
            return f"%{v.name} has {n} elements, over max_elements {limit}"
    return None


def _check_static_shapes(node: Node, required: bool) -> str | None:
    if required:
        for v in _values(node):
            if not v.type.is_static:
                return f"%{v.name} ({v.type}) has a symbolic shape; static shapes are required"
    return None


_RULE_CHECKS: dict[str, Callable[[Node, Any], str | None]] = {
    "dtypes": _check_dtypes,
    "max_kernel": _check_max_kernel,
    "max_stride": _check_max_stride,
    "max_channels": _check_max_channels,
    "max_batch": _check_max_batch,
    "max_rank": _check_max_rank,
    "max_elements": _check_max_elements,
    "static_shapes": _check_static_shapes,
}
"""The rule vocabulary: each key of a rule is checked by its function (None: the node satisfies it)."""


class Rule(_Model):
    """A constraint on some ops, from the vocabulary in ``_RULE_CHECKS``; ``note`` says where it comes from."""

    ops: OpList = Field(description='"*" or the IR ops the rule applies to')
    dtypes: tuple[DTypeName, ...] | None = Field(None, description="allowed dtypes of every input and output")
    max_kernel: PositiveInt | None = Field(None, description="largest spatial kernel dimension")
    max_stride: PositiveInt | None = Field(None, description="largest stride")
    max_channels: PositiveInt | None = Field(None, description="most channels (dim 1) of the data input and output")
    max_batch: PositiveInt | None = Field(None, description="largest batch (dim 0) of NC[D]HW tensors")
    max_rank: PositiveInt | None = Field(None, description="highest tensor rank")
    max_elements: PositiveInt | None = Field(None, description="most elements in any one tensor")
    static_shapes: bool = Field(False, description="every shape must be static")
    note: str = Field("", description="why: the datasheet or spec the limit comes from")

    def applies_to(self, op: str) -> bool:
        return self.ops == ("*",) or op in self.ops

    @functools.cached_property
    def limits(self) -> dict[str, Any]:
        """The vocabulary entries this rule sets, with their values."""
        return {k: getattr(self, k) for k in _RULE_CHECKS if getattr(self, k) is not None and getattr(self, k) is not False}

    def check(self, node: Node) -> str | None:
        """Why ``node`` breaks this rule, or None."""
        for key, limit in self.limits.items():
            reason = _RULE_CHECKS[key](node, limit)
            if reason:
                return f"{reason} ({self.note})" if self.note else reason
        return None

    def summary(self) -> str:
        """One line, e.g. ``"max_pool, avg_pool: max_kernel=8 max_stride=16"``."""
        parts = [f"{k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in self.limits.items()]
        return f"{'all ops' if self.ops == ('*',) else ', '.join(self.ops)}: {' '.join(parts)}"


class Capability(_Model):
    """What the chip can run: IR ops, dtypes, and per-op rules."""

    ops: OpList = Field(description='"*" or the list of supported IR ops')
    exclude: tuple[str, ...] = Field((), description="IR ops not supported even though ops is \"*\"")
    dtypes: tuple[DTypeName, ...] = Field(description="dtypes the chip computes in")
    rules: tuple[Rule, ...] = Field((), description="per-op constraints")

    def check(self, node: Node) -> str | None:
        """None if a chip with this capability can run ``node``; otherwise why not, in one phrase."""
        if (self.ops != ("*",) and node.op not in self.ops) or node.op in self.exclude:
            return f"op '{node.op}' is not supported"
        reason = _check_dtypes(node, self.dtypes)
        if reason:
            return reason
        for rule in self.rules:
            if rule.applies_to(node.op):
                reason = rule.check(node)
                if reason:
                    return reason
        return None

    def unknown_ops(self) -> list[str]:
        """Op names here that the IR registry does not know (a typo, or an op not landed yet)."""
        from hetflow.ir.registry import all_ops

        known = all_ops()
        named = [*self.ops, *self.exclude, *(op for r in self.rules for op in r.ops)]
        return sorted({op for op in named if op != "*" and op not in known})


class GpuCosts(_Model):
    """What a GPU costs beyond the roofline (the gpu_triton cost model reads it; cite every figure)."""

    launch_eager: Seconds = Field(description="host-side cost of one kernel launch from a stream, e.g. '4 us'")
    launch_graph: Seconds = Field(description="per-kernel cost inside a replayed CUDA graph, e.g. '1 us'")
    efficiency_gemm: float = Field(gt=0, le=1, description="achievable fraction of peak ops/s for matmul/conv")
    efficiency_bandwidth: float = Field(gt=0, le=1, description="achievable fraction of memory bandwidth")
    efficiency_reduction: float = Field(gt=0, le=1, description="achievable fraction of bandwidth for reductions")
    ctas_per_sm: PositiveInt = Field(2, description="resident thread blocks per SM for a typical tile (one wave)")


class MachineDescription(_Model):
    """One chip. Code reads these fields; it never tests a chip's name."""

    name: str = Field(description='"vendor/model", lower case, e.g. "nvidia/h200"')
    kind: Kind = Field(description="cpu, gpu, fpga or asic")
    backend: str = Field(description="the code generator and driver that serve it, e.g. cpu_c, gpu_triton, fpga_hls, nvdla")
    vendor: str = Field(description='the maker, e.g. "NVIDIA"')
    model: str = Field("", description='the full product name, e.g. "H200 SXM 141GB"')
    clock_hz: Hertz = Field(description="clock frequency, e.g. '1.98 GHz'")
    compute: Compute
    isa: tuple[str, ...] = Field((), description='instruction-set extensions code may use, e.g. "avx2", "avx512f", "asimd"')
    peak_ops: dict[str, OpsPerSecond] = Field(description="peak dense ops/s per dtype, e.g. float32 = '67 TFLOP/s'")
    memory: Memory
    on_chip: OnChip
    host_link: HostLink
    launch: Launch
    tdp_watts: Watts = Field(description="thermal design power in watts")
    resources: dict[str, PositiveInt] = Field(default_factory=dict,
                                              description="board resources by name, e.g. dsp = 12288, lut = 1728000")
    capability: Capability
    sources: tuple[str, ...] = Field((), description="the public datasheets the figures come from")
    estimates: tuple[str, ...] = Field((), description="field paths whose figures are estimates, not datasheet values")
    gpu: GpuCosts | None = Field(None, description="GPU launch and efficiency figures (kind gpu only)")
    nvdla: NvdlaHardware | None = Field(None, description="an NVDLA configuration's hardware parameters (backend nvdla)")

    @field_validator("name")
    @classmethod
    def _name_form(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f'expected "vendor/model" in lower case (e.g. "nvidia/h200"), got {v!r}')
        return v

    @field_validator("backend")
    @classmethod
    def _backend_form(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"expected a backend name such as cpu_c or fpga_hls, got {v!r}")
        return v

    @field_validator("peak_ops")
    @classmethod
    def _peak_dtypes(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("expected at least one dtype with its peak ops/s")
        for key in v:
            _dtype_name(key)
        return v

    @model_validator(mode="after")
    def _estimates_exist(self) -> MachineDescription:
        for path in self.estimates:
            node: Any = self
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
                if node is None:
                    raise ValueError(f"estimates names {path!r}, which is not a field of this description")
        return self

    # ------------------------------------------------------------ queries
    @property
    def short_name(self) -> str:
        """The model part of the name: ``"h200"`` for ``"nvidia/h200"``."""
        return self.name.split("/", 1)[1]

    def peak(self, dtype: DType | str) -> float | None:
        """Peak ops/s in ``dtype``, or None when the chip has no figure for it."""
        return self.peak_ops.get(DType.of(dtype).value)

    def check(self, node: Node) -> str | None:
        """None if this chip can run ``node``; otherwise the reason it cannot."""
        return self.capability.check(node)

    def is_estimate(self, path: str) -> bool:
        """Whether the figure at ``path`` (e.g. ``"peak_ops.int8"``) is an estimate rather than a datasheet value."""
        return any(path == e or path.startswith(e + ".") for e in self.estimates)


# ---------------------------------------------------------------- loading


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file is a DescriptionError naming it."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise DescriptionError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise DescriptionError(f"{path}: not valid TOML: {exc}") from None


def load_description(path: str | Path) -> MachineDescription:
    """Read and validate one machine description TOML file."""
    path = Path(path)
    return parse_description(read_toml(path), source=str(path))


def parse_description(data: dict[str, Any], source: str = "<description>") -> MachineDescription:
    """Validate a description given as a dict (from TOML); ``source`` names it in errors."""
    return validate(MachineDescription, data, source)


def validate(model: type[M], data: Any, source: str) -> M:
    """``model.model_validate(data)``, with a ValidationError turned into one DescriptionError line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DescriptionError(format_validation_error(source, exc, model)) from None


def format_validation_error(source: str, exc: ValidationError, model: type[BaseModel]) -> str:
    """One line: the file, the field path, what was expected and what was given (and the other problems, briefly)."""
    errors = exc.errors()
    problems = [_problem(error, model) for error in errors]
    more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:6])}{'; ...' if len(problems) > 6 else ''})" \
        if len(problems) > 1 else ""
    return f"{source}: {problems[0]}{more}"


def _problem(error: Any, model: type[BaseModel]) -> str:
    """One problem of a validation error: the field path and what was wrong with it."""
    loc = tuple(error["loc"])
    path = _path(loc)
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        what = _field_description(model, loc)
        return f"{path}: missing" + (f"; expected {what}" if what else "")
    if kind == "extra_forbidden":
        parent = _field_model(model, loc[:-1])
        known = ", ".join(parent.model_fields) if parent else ""
        return f"{path}: unknown field" + (f"; expected one of: {known}" if known else "")
    msg = msg.removeprefix("Value error, ").replace("Input should be", "expected")
    text = f"{path or '(top level)'}: {msg}"
    if "got " not in msg and "input" in error:
        text += f", got {error['input']!r}"
    return text


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside an annotation such as ``Memory``, ``tuple[Rule, ...]`` or ``Memory | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, (types.UnionType, types.GenericAlias)) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _field_model(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return None
        current = _model_in(current.model_fields[part].annotation)
    return current


def _field_description(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    parent = _field_model(model, loc[:-1])
    if parent is None or loc[-1] not in parent.model_fields:
        return ""
    field = parent.model_fields[loc[-1]]
    if field.description:
        return field.description
    sub = _model_in(field.annotation)
    return f"a table with {', '.join(sub.model_fields)}" if sub else ""


# ---------------------------------------------------------------- NVDLA hardware configuration

NvdlaEngine = Literal["conv", "sdp", "pdp", "cdp", "rubik", "bdma"]
SdpFeature = Literal["bs", "bn", "ew", "lut"]


class NvdlaHardware(_Model):
    """The build parameters of one NVDLA configuration, as NVIDIA's hardware spec files (nvdla/hw spec/defs/*.spec)
    state them: MAC atoms, convolution buffer geometry, engines and SDP sub-units present, Winograd, batch,
    precisions, engine throughputs and memory interfaces."""

    spec: str = Field(description="the spec file the figures come from, e.g. 'nvdla/hw spec/defs/nv_full.spec'")
    atomic_c: PositiveInt = Field(description="MAC_ATOMIC_C_SIZE: input channels per MAC cell per cycle")
    atomic_k: PositiveInt = Field(description="MAC_ATOMIC_K_SIZE: output channels (MAC cells) per cycle")
    memory_atomic: PositiveInt = Field(description="MEMORY_ATOMIC_SIZE: channels per memory atom (surface packing)")
    cbuf_banks: PositiveInt = Field(description="CBUF_BANK_NUMBER")
    cbuf_bank_width: PositiveInt = Field(description="CBUF_BANK_WIDTH in bytes")
    cbuf_bank_depth: PositiveInt = Field(description="CBUF_BANK_DEPTH in entries")
    engines: tuple[NvdlaEngine, ...] = Field(description="engines present (*_ENABLE): conv, sdp, pdp, cdp, rubik, bdma")
    sdp: tuple[SdpFeature, ...] = Field(description="SDP sub-units present: bs (bias/scale), bn, ew (element-wise), lut")
    winograd: bool = Field(description="WINOGRAD_ENABLE")
    max_batch: PositiveInt = Field(1, description="MAX_BATCH_SIZE (1 where BATCH_DISABLE)")
    precisions: tuple[DTypeName, ...] = Field(description="feature/weight data types the datapath computes in")
    sdp_throughput: PositiveInt = Field(description="SDP_BS_THROUGHPUT: elements per cycle")
    pdp_throughput: PositiveInt = Field(description="PDP_THROUGHPUT: elements per cycle")
    cdp_throughput: PositiveInt = Field(description="CDP_THROUGHPUT: elements per cycle")
    primary_memif_width: PositiveInt = Field(description="PRIMARY_MEMIF_WIDTH in bits (DBBIF)")
    primary_memif_latency: PositiveInt = Field(description="PRIMARY_MEMIF_LATENCY in cycles")
    secondary_memif_width: int = Field(0, ge=0, description="SECONDARY_MEMIF_WIDTH in bits (0: no SRAMIF)")

    @property
    def macs(self) -> int:
        return self.atomic_c * self.atomic_k

    @property
    def cbuf_bytes(self) -> int:
        return self.cbuf_banks * self.cbuf_bank_width * self.cbuf_bank_depth


MachineDescription.model_rebuild()
