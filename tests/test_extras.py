"""The core install works alone, and a part whose optional extra is missing says which to
install in one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from trueclass._extras import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
BLOCK = ", ".join(repr(m) for modules in EXTRAS.values() for m in modules)


def _without_extras(code: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter where no module of any extra can be imported."""
    # each blocked by a None in sys.modules, but pyarrow, which scikit-learn looks up there
    # (a None misleads it): a finder refuses that one, as a machine without it does
    prelude = (f"import sys\nfor m in ({BLOCK},):\n    sys.modules[m] = None\n"
               "sys.modules.pop('pyarrow', None)\nclass _Absent:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] == 'pyarrow':\n"
               "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
               "sys.meta_path.insert(0, _Absent())\n")
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=None if env is None else os.environ | env)


def test_the_core_install_declares_none_of_the_extras():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(meta["dependencies"]).lower()
    for name in ("starlette", "uvicorn", "python-multipart", "onnxscript", "skl2onnx", "faiss", "captum", "pyarrow",
                 "tensorboard", "mlflow"):
        assert name not in core, name
    assert not any(d.lower().startswith("onnx>") for d in meta["dependencies"])
    extras = meta["optional-dependencies"]
    assert {"studio", "export", "scale", "explain", "all"} <= set(extras)
    assert "trueclass[all]" in extras["test"]


def test_a_run_trains_evaluates_and_writes_its_card_without_any_extra(tmp_path):
    code = """
import warnings
import numpy as np
import trueclass as tc
from trueclass.run.steps import IncompleteRunWarning
with warnings.catch_warnings():
    warnings.simplefilter("error", IncompleteRunWarning)
    run = tc.train("digits", model="logreg", out="run")
m = run.metrics
assert not [w for w in m["warnings"] if w.get("kind") == "step_failed"], m["warnings"]
assert "explain" in m["explanations"]["skipped"] and (run.path / "card.html").is_file()
from trueclass.report._text import format_train_summary
assert any(line.startswith("Explained: not done; saliency maps need the optional 'explain' extra")
           for line in format_train_summary(m))
print("ok", round(m["accuracy"], 4))
"""
    done = _without_extras(code, tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]


@pytest.mark.parametrize("part, code, extra", [
    ("studio", "import trueclass.studio as s; s.create_app('proj')", "studio"),
    ("export", "import trueclass as tc; tc.export('run')", "export"),
    ("explain", "import trueclass as tc, numpy as np\n"
                "clf = tc.ImageClassifier('knn').fit(tc.load('digits'))\n"
                "tc.explain(clf, tc.load('digits').images[:2])", "explain"),
])
def test_a_part_without_its_extra_says_which_to_install(part, code, extra, tmp_path):
    done = _without_extras(f"""
import trueclass as tc
try:
    {code.replace(chr(10), chr(10) + '    ')}
except tc.TrueclassError as exc:
    print(exc)
""", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"needs the optional {extra!r} extra" in done.stdout and f"pip install 'trueclass[{extra}]'" in done.stdout


def test_the_command_line_says_it_in_one_line(tmp_path):
    done = _without_extras("from trueclass.cli import main\nimport sys\nsys.argv = ['trueclass', 'studio', 'proj', "
                           "'--no-browser']\nmain()", tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "pip install 'trueclass[studio]'" in done.stderr


def test_the_copy_search_past_the_exact_limit_falls_back_without_faiss(tmp_path):
    code = """
import warnings, numpy as np
from trueclass.data import _neighbours as nb
nb.EXACT_MAX = 50
rng = np.random.default_rng(0)
base = rng.normal(size=(200, 8)).astype(np.float32)
base /= np.linalg.norm(base, axis=1, keepdims=True)  # unit rows: each is its own nearest
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scores, idx = nb.nearest(base, base[:5], 1)
assert (idx[:, 0] == np.arange(5)).all()
assert any("trueclass[scale]" in str(w.message) for w in caught)
print("ok")
"""
    done = _without_extras(code, tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_backbone_embeds_in_pytorch_without_the_exporter_with_the_onnx_numbers(tmp_path):
    from trueclass.features import _backbone

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 40, 40, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    onnx = _backbone.Embedder(engine="onnx")(images)  # the ONNX file in this session's cache
    code = f"""
import os, shutil
import numpy as np
from trueclass.features import _backbone
os.environ.pop("TRUECLASS_PRECISION", None)  # the fallback's own precision
images = np.load("images.npy")
torch_path = _backbone.Embedder()  # a cache of its own: no ONNX file, and no exporter to make one
np.save("torch.npy", torch_path(images))
shutil.copy({str(_backbone.onnx_file(_backbone.DEFAULT_SIZE))!r}, _backbone._onnx_path(_backbone.DEFAULT_SIZE))
onnx_path = _backbone.Embedder()  # an ONNX file made before runs without the exporter
np.save("onnx.npy", onnx_path(images))
print(torch_path.key, onnx_path.key)
"""
    done = _without_extras(code, tmp_path, env={"TRUECLASS_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    import torch

    on = "-cuda" if torch.cuda.is_available() else ""  # a GPU's features keep entries of their own
    assert done.stdout.split() == [f"{_backbone.ARCH}-{_backbone.PTH_SHA256[:8]}-160px-torch-fp32{on}-f32",
                                   f"{_backbone.ARCH}-{_backbone.PTH_SHA256[:8]}-160px-onnx-fp32-f32"]
    np.testing.assert_allclose(np.load(tmp_path / "torch.npy"), onnx, atol=1e-4)
    np.testing.assert_array_equal(np.load(tmp_path / "onnx.npy"), onnx)


def test_the_stress_test_keeps_its_results_without_the_explain_extra(tmp_path):
    code = """
import trueclass as tc
from trueclass.run.steps import IncompleteRunWarning
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("error", IncompleteRunWarning)
    run = tc.train("digits", model="logreg", stress=True, out="run")
rob = run.metrics["robustness"]
assert rob["shortcuts"] is None and "trueclass[explain]" in rob["shortcuts_skipped"]
assert rob["accuracy"] and rob["ood"]
print("ok")
"""
    done = _without_extras(code, tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
