"""ONNX files at their lowest level: a torch module written as one (the one way trueclass
exports a torch module: the models, the backbone's features), an ONNX Runtime session on
one, and the trueclass metadata an exported file carries. Nothing here knows the
estimator, so the model folders (``_io``), the backbone and the exporter (``_onnx``) all
read it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from .._errors import TrueclassError

__all__ = ["OPSET", "torch_to_onnx", "session_of", "read_onnx_meta"]

OPSET = 18


def torch_to_onnx(module: Any, example: Any, input_name: str, output_names: list[str]) -> tuple[Any, str]:
    """``module`` as a checked ONNX ModelProto with a free batch size, by the
    torch.export-based exporter; returns it and the exporter's name and versions. The
    one way trueclass exports a torch module (the models here, the backbone's features
    for the embedding cache)."""
    from .._extras import require

    require("export", "Writing a network as ONNX")
    import onnx
    import onnxscript
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        program = torch.onnx.export(module, (example,), input_names=[input_name], output_names=output_names,
                                    dynamic_shapes={input_name: {0: torch.export.Dim("n")}}, opset_version=OPSET,
                                    dynamo=True, verbose=False, report=False)
    proto = program.model_proto
    _drop_exporter_notes(proto)
    onnx.checker.check_model(proto)
    return proto, f"torch.onnx (dynamo) {torch.__version__.split('+')[0]}, onnxscript {onnxscript.__version__}"


def _drop_exporter_notes(proto: Any) -> None:
    """Remove what the exporter records for debugging and no runtime reads: each node's
    Python stack trace, FX node and module names, and the exported program's signature.
    The stack traces name files of the machine that exported (its user's paths), and in a
    small network these notes outweigh the int8 weights (digits cnn: 16 KB of a 98 KB
    file). The file's own metadata (classes, sizes, the trueclass record) stays."""
    graphs = [proto.graph, *(f for f in proto.functions)]
    del proto.graph.metadata_props[:]
    for graph in graphs:
        for node in graph.node:
            node.doc_string = ""
            del node.metadata_props[:]
        for value in (*getattr(graph, "value_info", ()), *graph.input, *graph.output):
            del value.metadata_props[:]


def session_of(path: str | Path):
    """An ONNX Runtime session on the exported file, on the CPU."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a bad file
        raise TrueclassError(f"{str(path)!r} is not an ONNX model onnxruntime can read ({str(exc)[:200]}).") from None


def read_onnx_meta(path: str | Path) -> dict[str, Any]:
    """The trueclass metadata of an exported file; a sentence when it has none."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise TrueclassError(f"No such ONNX file: {str(path)!r}.")
    props = session_of(p).get_modelmeta().custom_metadata_map
    if "trueclass" not in props:
        raise TrueclassError(f"{str(path)!r} was not exported by trueclass (it has no trueclass metadata); "
                             "run it with onnxruntime directly.")
    return json.loads(props["trueclass"])
