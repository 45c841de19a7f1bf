"""A fitted model as one ONNX file, its preprocessing inside the graph.

The exported graph takes what a deployment has after decoding an image file: 8-bit
images ``image`` (N, H, W, C), uint8, at the model's size and colour mode (see
:func:`read_for_onnx`). Inside it does what trueclass does before the model: scaling,
grey to RGB, the resize and normalisation a pretrained network expects, then the model,
then the temperature fitted on validation images. It answers ``probabilities``
(calibrated, what ``predict_proba`` gives) and ``raw_probabilities``. So a deployment
cannot resize or normalise differently from training, the commonest way an exported
model and its training tool come to disagree.

Exporters:
- networks (``cnn``, ``timm:<name>``) and the ``lite0`` probe (backbone, standardising
  and logistic regression in one graph): ``torch.onnx.export(dynamo=True)``, the
  torch.export-based exporter, which needs ``onnxscript``. The TorchScript exporter
  (``dynamo=False``, deprecated) cannot export the antialiased resize the pretrained
  networks use (``aten::_upsample_bilinear2d_aa``).
- pixel models (``logreg``, ``knn``, ``svm``, ``forest``): ``skl2onnx``, scikit-learn's
  own converter, in float64, with the scaling and calibration added around its graph.
Every registered model can be exported.

The file's metadata (``session.get_modelmeta().custom_metadata_map``) names the classes,
the input size and colour mode, the temperature and the review threshold, and holds the
model's ``model.json`` under ``trueclass``. Loading an exported file runs no Python code.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import TrueclassError
from .._jsonio import sha256_file
from ._estimator import ImageClassifier
from ..features import OPSET, read_onnx_meta, session_of, torch_to_onnx

__all__ = ["export_onnx", "quantize_onnx", "load_onnx", "read_for_onnx", "torch_to_onnx", "ExportedClassifier", "OPSET",
           "INPUT", "OUTPUTS", "INT8_OPS"]

INPUT = "image"
OUTPUTS = ("probabilities", "raw_probabilities")
_BATCH = 256


def read_for_onnx(path: str | Path, width: int, height: int, mode: str) -> np.ndarray:
    """One image file as the exported model takes it: (height, width, channels) uint8.

    This is the deployment code docs/export.md shows, and the parity check runs it; it reads
    a file the way trueclass does (JPEG draft decoding, EXIF orientation, transparency on
    white, 16-bit and float images scaled to 8 bits, bilinear resize), written without
    trueclass as docs/export.md shows it (a test holds the two to the same pixels)."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.draft(mode, (width, height))  # JPEG: decode at a reduced scale first (a no-op for other formats)
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):  # 16-bit or float: scaled, not clipped
            a = np.asarray(im, dtype=np.float64)
            top = 1.0 if im.mode == "F" and a.max(initial=0) <= 1 else 255.0 if a.max(initial=0) <= 255 else 65535.0
            im = Image.fromarray(np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8))
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode in ("RGBA", "LA", "La", "RGBa", "PA"):  # transparent parts on white
            im = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im.convert("RGBA"))
        im = im.convert(mode)
        if im.size != (width, height):
            im = im.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
        return np.asarray(im, dtype=np.uint8).reshape(height, width, -1)


# -- export ---------------------------------------------------------------------------------------
def export_onnx(clf: Any, path: str | Path) -> dict[str, Any]:
    """Write the loaded model ``clf`` (``load_model(folder)``) to ``path`` as ONNX;
    returns what was done (exporter, opset, seconds, size, SHA-256)."""
    from .._extras import require

    require("export", "Exporting a model to ONNX")
    meta = getattr(clf, "metadata_", None)
    if meta is None:
        raise TrueclassError("Export a saved model: clf.save(folder), then export the folder (or train a run).")
    if getattr(clf, "multilabel_", False):
        raise TrueclassError("A multi-label model cannot be exported yet: its per-label thresholds have no place in "
                             "the graph. Export a single-label model.")
    family = meta.get("family")
    t0 = time.perf_counter()
    temperature = (getattr(clf, "calibration_", None) or {}).get("temperature")
    if family == "pixel":
        proto, exporter = _sklearn_graph(clf, temperature)
    else:
        proto, exporter = _torch_graph(clf, temperature)
    _set_metadata(proto, clf, exporter, temperature)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    import onnx

    onnx.save(proto, str(tmp))
    os.replace(tmp, path)
    return {"file": path.name, "format": "onnx", "opset": OPSET, "exporter": exporter,
            "seconds": round(time.perf_counter() - t0, 3), "bytes": path.stat().st_size, "sha256": sha256_file(path),
            "input": f"{INPUT}: uint8 (N, {clf.image_shape_[0]}, {clf.image_shape_[1]}, {clf.image_shape_[2]})",
            "outputs": list(OUTPUTS)}


#: What int8 quantizes: the layers that hold the weights. The uint8 input's scaling, the
#: resize and normalisation before them and the softmax and temperature after them stay in
#: float, so the probabilities keep their precision and the graph its input.
INT8_OPS = ("Conv", "MatMul", "Gemm")


def quantize_onnx(src: str | Path, dst: str | Path, calibration: np.ndarray) -> dict[str, Any]:
    """An int8 copy of the exported network ``src`` at ``dst``, with ONNX Runtime's static
    quantization: per-channel int8 weights and uint8 activations (QDQ format) whose ranges
    come from ``calibration``, uint8 (N, H, W, C) images as the graph takes them (training
    or validation images, never test images). Metadata and outputs are the fp32 file's."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([calibration[i:i + 64] for i in range(0, len(calibration), 64)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT: np.ascontiguousarray(batch, dtype=np.uint8)}

    src, dst = Path(src), Path(dst)
    t0 = time.perf_counter()
    pre = dst.with_name(dst.name + f".{os.getpid()}.pre.onnx")
    tmp = dst.with_name(dst.name + f".{os.getpid()}.tmp")
    try:
        # shape inference and graph optimisation first (BatchNorm folded into the convolutions),
        # as ONNX Runtime's quantization guide asks
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=list(INT8_OPS), calibrate_method=CalibrationMethod.MinMax)
        proto = onnx.load(str(tmp))
        fp32 = onnx.load(str(src), load_external_data=False)
        del proto.metadata_props[:]
        proto.metadata_props.extend(fp32.metadata_props)
        proto.producer_name, proto.producer_version = fp32.producer_name, fp32.producer_version
        onnx.save(proto, str(tmp))
        os.replace(tmp, dst)
    except TrueclassError:
        raise
    except Exception as exc:  # onnxruntime's quantizer raises what its graph code meets
        raise TrueclassError(f"ONNX Runtime could not quantize {src.name} to int8 ({str(exc)[:200]}); the fp32 "
                             "file is the one to deploy.") from None
    finally:
        for f in (pre, tmp, pre.with_name(pre.name + ".data")):
            f.unlink(missing_ok=True)
    return {"file": dst.name, "format": "onnx int8", "quantization": "static, QDQ, per-channel int8 weights, "
            f"uint8 activations calibrated on {len(calibration):,} training and validation images",
            "seconds": round(time.perf_counter() - t0, 3), "bytes": dst.stat().st_size, "sha256": sha256_file(dst)}


def _torch_graph(clf: Any, temperature: float | None) -> tuple[Any, str]:
    import torch

    h, w, c = clf.image_shape_
    return torch_to_onnx(_deployed_module(clf, temperature), torch.zeros((2, h, w, c), dtype=torch.uint8), INPUT,
                         list(OUTPUTS))


def _deployed_module(clf: Any, temperature: float | None):
    """A torch module from uint8 (N, H, W, C) images to (calibrated, raw) probabilities."""
    import torch
    import torch.nn.functional as F

    t = float(temperature or 1.0)
    backend = clf.estimator_
    if hasattr(backend, "net_"):  # cnn and timm networks
        from ..training import prep_input, tta_views

        net = backend.net_.eval().float()
        mean = torch.tensor(backend.mean_, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(backend.std_, dtype=torch.float32).view(1, -1, 1, 1)
        expand, resize = backend.expand_, backend.resize_
        tta = backend.tta_mode(clf.get_params().get("tta"))

        class Deployed(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net
                self.register_buffer("mean", mean)
                self.register_buffer("std", std)

            def forward(self, image):
                x = image.permute(0, 3, 1, 2).to(torch.float32) * (1.0 / 255.0)
                x = prep_input(x, expand, resize)
                views = tta_views(x, tta)
                # the views as one batch through one copy of the network: a graph that ran the
                # network once a view would hold its weights once a view after quantization
                # (ONNX Runtime folds BatchNorm into each Conv node separately)
                stacked = (torch.cat(views) - self.mean) / self.std
                logits = self.net(stacked).unflatten(0, (len(views), -1)).mean(0)
                return torch.softmax(logits / t, dim=1), torch.softmax(logits, dim=1)

        return Deployed().eval()
    # the lite0 probe: backbone, standardising and logistic regression
    from ..features import MEAN, STD, build_backbone

    pipe = backend.estimator
    scaler, logreg = pipe[0], pipe[-1]
    size = _backbone_size()
    mu = torch.tensor(scaler.mean_, dtype=torch.float32)
    sd = torch.tensor(scaler.scale_, dtype=torch.float32)
    coef = torch.tensor(logreg.coef_, dtype=torch.float32)
    intercept = torch.tensor(logreg.intercept_, dtype=torch.float32)
    binary = coef.shape[0] == 1
    backbone = build_backbone()

    class DeployedProbe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone
            for name, v in (("mu", mu), ("sd", sd), ("coef", coef), ("intercept", intercept)):
                self.register_buffer(name, v)

        def forward(self, image):
            x = image.permute(0, 3, 1, 2).to(torch.float32)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if tuple(x.shape[2:]) != (size, size):
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            f = self.backbone((x - MEAN) / STD)
            z = ((f - self.mu) / self.sd) @ self.coef.T + self.intercept
            if binary:  # scikit-learn's binary probabilities: [1 - sigmoid(z), sigmoid(z)] = softmax([0, z])
                z = torch.cat([torch.zeros_like(z), z], dim=1)
            return torch.softmax(z / t, dim=1), torch.softmax(z, dim=1)

    return DeployedProbe().eval()


def _backbone_size() -> int:
    from ..features import DEFAULT_SIZE

    return int(DEFAULT_SIZE)


def _sklearn_graph(clf: Any, temperature: float | None) -> tuple[Any, str]:
    """skl2onnx's graph of the pixel model, with the scaling before it (uint8 images to
    flattened pixels in the data's units) and the temperature after it."""
    import onnx
    import skl2onnx
    from onnx import TensorProto, helper
    from skl2onnx.common.data_types import DoubleTensorType

    est = clf.estimator_.estimator
    h, w, c = clf.image_shape_
    n_feat = h * w * c
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inner = skl2onnx.to_onnx(est, initial_types=[("pixels", DoubleTensorType([None, n_feat]))],
                                 options={id(est): {"zipmap": False}}, target_opset={"": OPSET, "ai.onnx.ml": 3})
    g = inner.graph
    prob_name = g.output[1].name
    inner_out = {o.name: f"sk_{o.name}" for o in g.output}
    for node in g.node:  # rename the inner graph's outputs (wherever used) so ours can take their names
        node.input[:] = [inner_out.get(i, i) for i in node.input]
        node.output[:] = [inner_out.get(o, o) for o in node.output]
    const = lambda name, v, dt=TensorProto.DOUBLE: helper.make_tensor(name, dt, [len(v)] if len(v) > 1 else [], v)  # noqa: E731
    pre = [
        helper.make_node("Cast", [INPUT], ["tc_image_f"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["tc_image_f", "tc_unit"], ["tc_image_units"]),
        helper.make_node("Reshape", ["tc_image_units", "tc_flat_shape"], ["pixels"]),
    ]
    t = float(temperature or 1.0)
    post = [
        helper.make_node("Cast", [f"sk_{prob_name}"], ["tc_p"], to=TensorProto.DOUBLE),  # trees answer float32
        helper.make_node("Max", ["tc_p", "tc_eps"], ["tc_p_clipped"]),
        helper.make_node("Log", ["tc_p_clipped"], ["tc_log_p"]),
        helper.make_node("Div", ["tc_log_p", "tc_temperature"], ["tc_z"]),
        helper.make_node("Softmax", ["tc_z"], ["tc_p_cal"], axis=1),
        helper.make_node("Cast", ["tc_p_cal"], [OUTPUTS[0]], to=TensorProto.FLOAT),
        helper.make_node("Cast", [f"sk_{prob_name}"], [OUTPUTS[1]], to=TensorProto.FLOAT),
    ]
    inits = [const("tc_unit", [clf.value_max_ / 255.0]), const("tc_eps", [1e-12]), const("tc_temperature", [t]),
             helper.make_tensor("tc_flat_shape", TensorProto.INT64, [2], [-1, n_feat])]
    k = len(clf.classes_)
    graph = helper.make_graph(
        pre + list(g.node) + post, "trueclass",
        [helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["n", h, w, c])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["n", k]) for o in OUTPUTS],
        initializer=list(g.initializer) + inits)
    proto = helper.make_model(graph, opset_imports=list(inner.opset_import), producer_name="trueclass")
    proto.ir_version = inner.ir_version
    onnx.checker.check_model(proto)
    return proto, f"skl2onnx {skl2onnx.__version__}"


def _set_metadata(proto: Any, clf: Any, exporter: str, temperature: float | None) -> None:
    from onnx import helper

    from .. import __version__

    meta = {k: v for k, v in clf.metadata_.items() if k not in ("fingerprints",)}
    meta["exported"] = {"from_model": clf.metadata_["model"], "weights_sha256": clf.metadata_["weights"]["sha256"],
                        "exporter": exporter, "opset": OPSET, "trueclass_version": __version__}
    h, w, c = clf.image_shape_
    props = {
        "trueclass": json.dumps(meta),
        "classes": json.dumps([str(x) for x in clf.classes_]),
        "image_size": f"{w}x{h}",
        "color_mode": "L" if c == 1 else "RGB",
        "temperature": "" if temperature is None else repr(float(temperature)),
        "review_threshold": "" if clf.metadata_.get("threshold") is None else repr(float(clf.metadata_["threshold"])),
    }
    helper.set_model_props(proto, props)
    proto.producer_name, proto.producer_version = "trueclass", __version__


# -- loading ---------------------------------------------------------------------------------------
class OnnxBackend:
    """The backend of an exported file: its ``raw_probabilities`` for uint8 images."""

    def __init__(self, session: Any, n_classes: int):
        self.session = session
        self.classes_ = np.arange(n_classes)
        self.history_: list[dict[str, Any]] = []

    def predict_proba(self, X: np.ndarray, tta: Any = None) -> np.ndarray:  # noqa: ARG002 - TTA is in the graph
        outs = [self.session.run([OUTPUTS[1]], {INPUT: X[i:i + _BATCH]})[0] for i in range(0, len(X), _BATCH)]
        return np.concatenate(outs).astype(np.float64) if outs else np.zeros((0, len(self.classes_)))

    def training_record(self) -> None:
        return None

    def resolved(self) -> dict[str, Any]:
        return {}


class ExportedClassifier(ImageClassifier):
    """An exported ONNX file behind the estimator's API (``predict``, ``predict_proba``,
    ``score``, ``trueclass.evaluate``), run by ONNX Runtime. It takes images as a
    deployment does: 8-bit, so images in other units (the digits' 0-16) are rounded to
    0-255 first. It cannot be trained or saved again."""

    def _prepare(self, images: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.clip(np.rint(images * (255.0 / self.value_max_)), 0, 255).astype(np.uint8))

    def fit(self, *args: Any, **kwargs: Any) -> "ExportedClassifier":  # noqa: ARG002
        raise TrueclassError("An exported model cannot be trained; train the run again and export it.")

    def calibrate(self, *args: Any, **kwargs: Any) -> "ExportedClassifier":  # noqa: ARG002
        raise TrueclassError("An exported model's temperature is inside its graph; calibrate the trained model and "
                             "export it again.")

    def save(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ARG002
        raise TrueclassError("An exported model is already a file; copy it.")

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803 - scikit-learn's signature
        meta = getattr(self, "metadata_", {})
        return f"ExportedClassifier(exported from {meta.get('exported_from')!r}, classes={len(self.classes_)})"

    def set_params(self, **params: Any) -> "ExportedClassifier":
        if params:
            raise TrueclassError(f"An exported model has no parameters to set ({', '.join(params)}); test-time "
                                 "augmentation, if the model used it, is inside the graph.")
        return self


def load_onnx(path: str | Path) -> ExportedClassifier:
    """An exported file as an estimator (see :class:`ExportedClassifier`)."""
    from ..evaluation import uncalibrated

    p = Path(path).expanduser()
    meta = read_onnx_meta(p)
    session = session_of(p)
    model = ExportedClassifier("onnx")
    dtype = {"int": np.int64, "float": np.float64, "bool": bool, "str": str}[meta.get("classes_type", "str")]
    model.classes_ = np.asarray(meta["classes"], dtype=dtype)
    model.image_shape_ = (int(meta["image_size"][0]), int(meta["image_size"][1]), int(meta["channels"]))
    model.value_max_ = int(meta["value_max"])
    model.n_features_in_ = int(np.prod(model.image_shape_))
    model.estimator_ = OnnxBackend(session, len(model.classes_))
    model.training_ = meta.get("training", {})
    model.train_seconds_ = model.training_.get("train_seconds")
    model.multilabel_ = False
    if meta.get("class_counts") is not None:
        model.class_counts_ = np.asarray(meta["class_counts"], dtype=np.int64)
    model.thresholds_ = np.full(len(model.classes_), 0.5)
    model.calibration_ = meta.get("calibration") or uncalibrated("it was exported without a temperature")
    model.metadata_ = {**meta, "model": "onnx", "exported_from": meta["exported"]["from_model"]}
    return model
