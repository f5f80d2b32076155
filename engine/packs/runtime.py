"""The onnxruntime runtime of model packs: providers, threads, preprocessing, batches.

Devices (``device=`` or the ``CULLER_DEVICE`` environment variable):

``auto``      CUDA, then CoreML, then DirectML, else the CPU.  TensorRT is not
              chosen automatically: it compiles an engine per model on first use
              (minutes), so it is used only when asked for.
``cpu``       the CPU provider.
``cuda``      ``cuda:N`` picks GPU N.
``tensorrt``  TensorRT with CUDA and CPU behind it.
``coreml``, ``directml``  Apple and Windows GPUs.

When the requested provider is missing (or fails to start) the runtime falls
back to the CPU and says so once, in ``PackRuntime.provider_message`` and as a
warning on the ``engine.packs`` logger.

Threads: one intra-op thread per session by default, because ranking runs one
worker process per core; ``threads=`` or ``CULLER_ORT_THREADS`` change it
(0 lets onnxruntime use every core, for a single process).

Preprocessing follows each :class:`~engine.packs.pack.PackInput` (training
imports :func:`make_crops` and :func:`normalise` so both sides agree):

``full``      the whole picture resized to the input size (aspect not kept);
``center``    short side resized to the larger input side, centre crop;
``grid5``     the four corner crops and the centre crop at the picture's own
              resolution (pixel-level detail kept), scores averaged;
``mosaic:N``  an N x N grid of patches of size (H/N, W/N) taken at the picture's
              own resolution from the centres of an N x N grid of cells,
              tiled into one input (the local view of global+local models).

Pixels are scaled to [0, 1], normalised with the input's mean/std, laid out
NCHW and cast to the input's dtype (``float16`` packs for GPUs).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.packs.pack import Manifest, PackError, PackInput, read_manifest, verify_pack

log = logging.getLogger("engine.packs")

ENV_DEVICE = "CULLER_DEVICE"
ENV_THREADS = "CULLER_ORT_THREADS"

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
}
DEVICES = ("auto", *PROVIDERS)
AUTO_ORDER = ("cuda", "coreml", "directml")
GPU_DEVICES = frozenset({"cuda", "tensorrt", "coreml", "directml"})


def default_device() -> str:
    return os.environ.get(ENV_DEVICE, "auto").strip().lower() or "auto"


def default_threads() -> int:
    raw = os.environ.get(ENV_THREADS, "").strip()
    if not raw:
        return 1
    try:
        return max(0, int(raw))
    except ValueError:
        log.warning("%s=%r is not a number; using 1 thread", ENV_THREADS, raw)
        return 1


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


@dataclass
class ProviderChoice:
    device: str  # what actually runs: "cpu", "cuda", ...
    providers: list[Any]  # for onnxruntime.InferenceSession(providers=...)
    message: str | None = None  # set when the request could not be honoured

    @property
    def is_gpu(self) -> bool:
        return self.device in GPU_DEVICES


def parse_device(device: str | None) -> tuple[str, int]:
    """``"cuda:1"`` -> ``("cuda", 1)``; raise ValueError for an unknown device."""
    d = (device or default_device()).strip().lower()
    kind, _, idx = d.partition(":")
    if kind == "gpu":
        kind = "cuda"
    if kind == "dml":
        kind = "directml"
    if kind not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)} (cuda:N for GPU N)")
    try:
        index = int(idx) if idx else 0
    except ValueError:
        raise ValueError(f"bad device index in {device!r}") from None
    return kind, index


def select_providers(device: str | None = "auto", available: Sequence[str] | None = None) -> ProviderChoice:
    """The onnxruntime providers for ``device``, falling back to the CPU with a message."""
    kind, index = parse_device(device)
    avail = list(available) if available is not None else available_providers()
    cpu = PROVIDERS["cpu"]
    installed = ", ".join(p.replace("ExecutionProvider", "") for p in avail) or "none"

    def entry(k: str) -> Any:
        name = PROVIDERS[k]
        if k in ("cuda", "tensorrt"):
            return (name, {"device_id": index})
        if k == "directml":
            return (name, {"device_id": index})
        return name

    if kind == "cpu":
        return ProviderChoice("cpu", [cpu])
    if kind == "auto":
        for k in AUTO_ORDER:
            if PROVIDERS[k] in avail:
                return ProviderChoice(k, [entry(k), cpu])
        return ProviderChoice("cpu", [cpu])
    if kind == "tensorrt":
        if PROVIDERS["tensorrt"] in avail:
            chain = [entry("tensorrt")]
            if PROVIDERS["cuda"] in avail:
                chain.append(entry("cuda"))
            return ProviderChoice("tensorrt", [*chain, cpu])
        if PROVIDERS["cuda"] in avail:
            return ProviderChoice(
                "cuda",
                [entry("cuda"), cpu],
                f"device 'tensorrt' requested but onnxruntime has no TensorRT provider "
                f"(installed: {installed}); running on CUDA",
            )
    elif PROVIDERS[kind] in avail:
        return ProviderChoice(kind, [entry(kind), cpu])
    hint = {
        "cuda": "install onnxruntime-gpu (and CUDA/cuDNN) for NVIDIA GPUs",
        "tensorrt": "install onnxruntime-gpu with TensorRT for TensorRT",
        "coreml": "CoreML needs the macOS build of onnxruntime",
        "directml": "install onnxruntime-directml on Windows for DirectML",
    }[kind]
    return ProviderChoice(
        "cpu",
        [cpu],
        f"device {kind!r} requested but onnxruntime has no {PROVIDERS[kind].replace('ExecutionProvider', '')} "
        f"provider (installed: {installed}); falling back to the CPU ({hint})",
    )


def session_options(threads: int | None = None) -> Any:
    import onnxruntime as ort

    n = default_threads() if threads is None else max(0, int(threads))
    so = ort.SessionOptions()
    so.intra_op_num_threads = n
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if n != 1:
        # don't burn idle cores busy-waiting between the small runs of a culling session
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def create_session(model: str | os.PathLike[str] | bytes, device: str | None = "auto", threads: int | None = None) -> tuple[Any, ProviderChoice]:
    """An onnxruntime session on ``device`` (CPU fallback with a message)."""
    with warnings.catch_warnings():  # onnxruntime's own provider warnings: ours are clearer
        warnings.simplefilter("ignore", UserWarning)
        return _create_session(model, device, threads)


def _create_session(model: str | os.PathLike[str] | bytes, device: str | None, threads: int | None) -> tuple[Any, ProviderChoice]:
    import onnxruntime as ort

    choice = select_providers(device)
    src = model if isinstance(model, bytes) else str(model)
    try:
        sess = ort.InferenceSession(src, sess_options=session_options(threads), providers=choice.providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        if choice.device == "cpu":
            raise PackError(f"onnxruntime cannot load the model: {exc}") from exc
        msg = f"the {choice.device} provider failed to start ({exc}); falling back to the CPU"
        choice = ProviderChoice("cpu", [PROVIDERS["cpu"]], msg)
        try:
            sess = ort.InferenceSession(src, sess_options=session_options(threads), providers=choice.providers)
        except Exception as exc2:
            raise PackError(f"onnxruntime cannot load the model: {exc2}") from exc2
    if choice.device != "cpu":
        active = sess.get_providers()
        if not active or active[0] == PROVIDERS["cpu"]:
            choice = ProviderChoice(
                "cpu", [PROVIDERS["cpu"]], f"the {choice.device} provider did not initialise; running on the CPU"
            )
    return sess, choice


# ----------------------------------------------------------------------------------- preprocessing


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HxWx3 uint8 picture to (h, w): area averaging when shrinking."""
    import cv2

    h, w = int(size[0]), int(size[1])
    if img.shape[0] == h and img.shape[1] == w:
        return img
    shrink = img.shape[0] > h or img.shape[1] > w
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=interp))


def _ensure_rgb(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 RGB picture, got shape {a.shape}")
    if a.shape[2] == 4:
        a = a[..., :3]
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def _at_least(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Upscale so the picture is at least h x w (aspect kept)."""
    ih, iw = img.shape[:2]
    s = max(h / ih, w / iw)
    if s <= 1.0:
        return img
    return resize(img, (max(h, round(ih * s)), max(w, round(iw * s))))


def n_crops(crops: str) -> int:
    kind = crops.split(":", 1)[0]
    return 5 if kind == "grid5" else 1


def make_crops(img: np.ndarray, size: tuple[int, int], crops: str = "full") -> list[np.ndarray]:
    """The test-time crops of one picture for an input of ``size`` (h, w); see the module doc."""
    img = _ensure_rgb(img)
    h, w = int(size[0]), int(size[1])
    kind, _, arg = crops.partition(":")
    if kind == "full":
        return [resize(img, (h, w))]
    if kind == "center":
        ih, iw = img.shape[:2]
        s = max(h, w) / min(ih, iw)
        r = resize(img, (max(h, round(ih * s)), max(w, round(iw * s))))
        y0, x0 = (r.shape[0] - h) // 2, (r.shape[1] - w) // 2
        return [r[y0 : y0 + h, x0 : x0 + w]]
    if kind == "grid5":
        r = _at_least(img, h, w)
        ih, iw = r.shape[:2]
        ys = (0, 0, ih - h, ih - h, (ih - h) // 2)
        xs = (0, iw - w, 0, iw - w, (iw - w) // 2)
        return [np.ascontiguousarray(r[y : y + h, x : x + w]) for y, x in zip(ys, xs)]
    if kind == "mosaic":
        try:
            n = int(arg) if arg else 4
        except ValueError:
            raise PackError(f"bad crops spec {crops!r}: mosaic:N needs an integer N") from None
        if n < 1 or h % n or w % n:
            raise PackError(f"bad crops spec {crops!r}: the input size {h}x{w} must be divisible by N")
        ph, pw = h // n, w // n
        r = _at_least(img, h, w)
        ih, iw = r.shape[:2]
        out = np.empty((h, w, 3), np.uint8)
        for i in range(n):
            cy = int((i + 0.5) * ih / n)
            y0 = min(max(cy - ph // 2, 0), ih - ph)
            for j in range(n):
                cx = int((j + 0.5) * iw / n)
                x0 = min(max(cx - pw // 2, 0), iw - pw)
                out[i * ph : (i + 1) * ph, j * pw : (j + 1) * pw] = r[y0 : y0 + ph, x0 : x0 + pw]
        return [out]
    raise PackError(f"unknown crops spec {crops!r} (full, center, grid5, mosaic:N)")


def normalise(batch: np.ndarray, mean: Sequence[float], std: Sequence[float], dtype: str = "float32") -> np.ndarray:
    """N x H x W x 3 uint8 -> N x 3 x H x W, scaled to [0,1] and normalised."""
    x = batch.astype(np.float32) * np.float32(1.0 / 255.0)
    x -= np.asarray(mean, np.float32)
    x /= np.asarray(std, np.float32)
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x.astype(np.float16) if dtype == "float16" else x


def preprocess(images: Sequence[np.ndarray], pi: PackInput) -> np.ndarray:
    """All crops of ``images`` for input ``pi``: (len(images) * n_crops, 3, H, W)."""
    crops = [c for img in images for c in make_crops(img, pi.size, pi.crops)]
    if not crops:
        return np.zeros((0, 3, *pi.size), np.float16 if pi.dtype == "float16" else np.float32)
    return normalise(np.stack(crops), pi.mean, pi.std, pi.dtype)


# ----------------------------------------------------------------------------------------- runtime


def _gpu_variant(manifest: Manifest) -> str | None:
    v = manifest.extra.get("fp16_model") if isinstance(manifest.extra, dict) else None
    return v if isinstance(v, str) and v in manifest.files else None


class PackRuntime:
    """One pack on one onnxruntime session.

    ``score(samples)`` takes one dict per sample mapping an input kind
    (``"image"``, ``"face"``) to an RGB uint8 picture and returns the model's raw
    output per sample (test-time crops averaged), running at most
    ``batch_size`` crops per call.
    """

    def __init__(
        self,
        pack_dir: str | os.PathLike[str],
        *,
        device: str | None = None,
        threads: int | None = None,
        batch_size: int = 8,
        verify: bool = True,
        manifest: Manifest | None = None,
    ) -> None:
        self.path = Path(pack_dir)
        self.manifest = manifest or (verify_pack(self.path) if verify else read_manifest(self.path))
        if not self.manifest.inputs:
            raise PackError(f"{self.path}: the manifest declares no inputs")
        self.batch_size = max(1, int(batch_size))
        choice = select_providers(device)
        model_file = "model.onnx"
        self.inputs = [PackInput(**vars(i)) for i in self.manifest.inputs]
        fp16 = _gpu_variant(self.manifest)
        if choice.is_gpu and fp16:
            model_file = fp16
            self.inputs = [PackInput(**{**vars(i), "dtype": "float16"}) for i in self.inputs]
        self.model_file = self.path / model_file
        self.session, self.choice = create_session(self.model_file, device, threads)
        if self.choice.device == "cpu" and model_file != "model.onnx":  # provider failed: fp32 on CPU
            self.model_file = self.path / "model.onnx"
            self.inputs = [PackInput(**vars(i)) for i in self.manifest.inputs]
            self.session, _ = create_session(self.model_file, "cpu", threads)
        if self.choice.message:
            log.warning("%s: %s", self.manifest.name, self.choice.message)
        self._check_graph()

    @property
    def device(self) -> str:
        return self.choice.device

    @property
    def provider_message(self) -> str | None:
        return self.choice.message

    def _check_graph(self) -> None:
        graph_inputs = {i.name: i for i in self.session.get_inputs()}
        self._fixed_batch: int | None = None
        for pi in self.inputs:
            gi = graph_inputs.get(pi.name)
            if gi is None:
                raise PackError(
                    f"{self.path}: the manifest input {pi.name!r} is not an input of the model "
                    f"(model inputs: {', '.join(graph_inputs)})"
                )
            shape = list(gi.shape)
            if len(shape) != 4:
                raise PackError(f"{self.path}: input {pi.name!r} must be N x 3 x H x W, the model says {shape}")
            if isinstance(shape[0], int) and shape[0] > 0:
                self._fixed_batch = shape[0]
            for got, want, what in ((shape[2], pi.size[0], "height"), (shape[3], pi.size[1], "width")):
                if isinstance(got, int) and got > 0 and got != want:
                    raise PackError(f"{self.path}: input {pi.name!r} {what} is {got} in the model, {want} in the manifest")
            if "float16" in str(gi.type):
                pi.dtype = "float16"
        missing = set(graph_inputs) - {pi.name for pi in self.inputs}
        if missing:
            raise PackError(f"{self.path}: model inputs {sorted(missing)} are not described in the manifest")
        outs = [o.name for o in self.session.get_outputs()]
        self.output_name = self.manifest.output.name if self.manifest.output.name in outs else outs[0]
        idx = self.manifest.extra.get("output_index", 0) if isinstance(self.manifest.extra, dict) else 0
        self.output_index = int(idx)

    @property
    def kinds(self) -> set[str]:
        return {pi.kind for pi in self.inputs}

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Run prepared NCHW arrays (any N) in chunks; returns the raw output, shape (N,)."""
        n = len(next(iter(feeds.values())))
        if n == 0:
            return np.zeros(0, np.float32)
        step = self._fixed_batch or self.batch_size
        outs = []
        for s in range(0, n, step):
            chunk = {k: v[s : s + step] for k, v in feeds.items()}
            m = len(next(iter(chunk.values())))
            if self._fixed_batch and m < self._fixed_batch:  # pad a fixed-batch model
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], self._fixed_batch - m, 0)]) for k, v in chunk.items()}
            y = self.session.run([self.output_name], chunk)[0]
            y = np.asarray(y, np.float32).reshape(len(next(iter(chunk.values()))), -1)
            outs.append(y[:m, min(self.output_index, y.shape[1] - 1)])
        return np.concatenate(outs)

    def score(self, samples: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
        """Raw model output for each sample (a dict kind -> RGB uint8 picture)."""
        if not samples:
            return np.zeros(0, np.float32)
        counts = {pi.name: n_crops(pi.crops) for pi in self.inputs}
        k = max(counts.values())
        feeds: dict[str, np.ndarray] = {}
        for pi in self.inputs:
            try:
                pics = [s[pi.kind] for s in samples]
            except KeyError:
                raise ValueError(f"pack {self.manifest.name!r} needs a {pi.kind!r} picture for input {pi.name!r}") from None
            x = preprocess(pics, pi)
            c = counts[pi.name]
            if c != k:
                if c != 1:
                    raise PackError(f"{self.path}: inputs with different numbers of test-time crops ({counts})")
                x = np.repeat(x, k, axis=0)
            feeds[pi.name] = x
        raw = self.run(feeds)
        return raw.reshape(len(samples), k).mean(axis=1)

    def score_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Raw output for pictures fed to every input of a pack whose inputs are all of one kind
        (e.g. a global view and a mosaic of the same picture); a face crop may be fed this way too."""
        if len(self.kinds) != 1:
            raise ValueError(f"pack {self.manifest.name!r} takes {sorted(self.kinds)} pictures; use score()")
        k = self.inputs[0].kind
        return self.score([{k: img} for img in images])

    def info(self) -> dict[str, Any]:
        return {
            "pack": self.manifest.name,
            "model": self.model_file.name,
            "device": self.device,
            "providers": self.session.get_providers(),
            "message": self.provider_message,
        }
