"""The CUDA lane: what a GPU machine must do end to end (train each kind of model,
explain, stress, calibrate, export with its parity check, predict on a CPU what a GPU
trained and the other way round, the studio's preview, torchrun's refusal and its CPU
processes). Marked ``cuda``: skipped where torch sees no GPU (CI), run by
benchmarks/gpu_check.sh on a GPU machine (TRUECLASS_REQUIRE_CUDA=1 makes a missing GPU
a failure there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.cuda

torch = pytest.importorskip("torch")


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trueclass", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def cuda_run(tmp_path_factory):
    """A cnn trained on the GPU with every late step on (stress, shortcut check, explanations, repeats)."""
    import trueclass as tc

    out = tmp_path_factory.mktemp("cuda") / "run"
    run = tc.train("digits", model="cnn", params={"epochs": 4}, stress=True, repeats=2, out=out)
    return run


def test_training_ran_on_the_gpu_and_every_late_step_finished(cuda_run):
    m = cuda_run.metrics
    assert m["training"]["runtime"].startswith("cuda"), m["training"]["runtime"]
    assert not m.get("warnings"), m.get("warnings")
    assert m["explanations"]["method"] == "gradcam"
    assert m["robustness"]["shortcuts"] is not None
    assert m["stability"] is not None
    assert m["calibration"]["temperature"]["value"] > 0
    assert m["accuracy"] > 0.9
    use = m["training"]["device_use"]  # images/s against the GPU's measured matrix-multiply peak
    assert 0 < use["share"] < 1 and use["peak_tflops"] > 1 and 0.004 < use["gflop_per_image"] < 0.007, use  # 5.4 MFLOP on a CPU
    assert f"{use['share']:.1%} of the" in (cuda_run.path / "card.html").read_text()
    for f in ("model/model.json", "model/weights.safetensors", "predictions.csv", "card.html", "metrics.json"):
        assert (cuda_run.path / f).is_file(), f


def test_a_gpu_model_predicts_the_same_on_a_cpu(cuda_run, tmp_path):
    """The run folder loads in a process that may not touch the GPU and answers as on the GPU."""
    images = cuda_run.dataset.images[:200]
    np.save(tmp_path / "x.npy", images)
    on_gpu = cuda_run.model.predict_proba(images)
    code = ("import numpy as np, trueclass as tc; m = tc.load_model(%r); "
            "np.save(%r, m.predict_proba(np.load(%r)))") % (str(cuda_run.path), str(tmp_path / "p.npy"),
                                                              str(tmp_path / "x.npy"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "TRUECLASS_PRECISION": "fp32"})
    assert res.returncode == 0, res.stderr[-2000:]
    on_cpu = np.load(tmp_path / "p.npy")
    assert np.mean(on_cpu.argmax(1) == on_gpu.argmax(1)) >= 0.99
    assert np.abs(on_cpu - on_gpu).max() < 0.05  # bf16 on the GPU against fp32 on the CPU


def test_a_cpu_model_predicts_on_the_gpu(tmp_path):
    """A model trained on a CPU loads where torch sees a GPU and predicts there."""
    import trueclass as tc
    from sklearn.datasets import load_digits

    d = load_digits()
    cpu = tc.ImageClassifier("cnn", epochs=2, device="cpu", precision="fp32", random_state=0).fit(
        d.images[:600], d.target[:600])
    p_cpu = cpu.predict_proba(d.images[600:800])
    cpu.save(tmp_path / "m")
    back = tc.load_model(tmp_path / "m")
    assert back.estimator_.runtime().is_cuda
    np.testing.assert_allclose(back.predict_proba(d.images[600:800]), p_cpu, atol=1e-3)
    assert all(p.device.type == "cpu" for p in back.estimator_.net_.parameters())  # what is saved stays on the CPU


def test_export_and_its_parity_check(cuda_run):
    import trueclass as tc

    ex = tc.export(cuda_run.path)
    assert ex.path.is_file()
    assert ex.parity["reference"]["agreement"] >= 0.99, ex.parity["reference"]


def test_explain_and_stress_commands_on_a_saved_gpu_model(cuda_run, tmp_path):
    res = _cli("explain", str(cuda_run.path), "--out", str(tmp_path / "explain"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    res = _cli("stress", str(cuda_run.path), "digits", "--out", str(tmp_path / "stress"), "--max-images", "200",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    res = _cli("evaluate", str(cuda_run.path), "digits", "--out", str(tmp_path / "eval"), cwd=tmp_path)
    assert res.returncode in (0, 1), res.stderr[-2000:]  # 1: every digit trained or was tested: a sentence
    assert "Traceback" not in res.stderr


def test_the_studio_preview_on_a_gpu_model(tmp_path):
    """The studio's preview answers with the latest run's model, loaded from its folder."""
    import trueclass as tc
    from sklearn.datasets import load_digits

    from trueclass.run.predict import predict_arrays

    d = load_digits()
    tc.ImageClassifier("cnn", epochs=1, random_state=0).fit(d.images[:400], d.target[:400]).save(tmp_path / "m")
    clf = tc.load_model(tmp_path / "m")
    rows = predict_arrays(clf, (d.images[400:401, :, :, None] * 255 / 16).astype(np.uint8), ["preview"], top_k=3)
    assert clf.estimator_.runtime().is_cuda
    assert rows[0]["label"] in [str(c) for c in clf.classes_]


def test_a_time_budget_is_measured_on_the_gpu():
    import trueclass as tc
    from sklearn.datasets import load_digits

    d = load_digits()
    clf = tc.ImageClassifier("cnn", time_budget="20s", random_state=0).fit(d.images[:1000], d.target[:1000])
    budget, cfg = clf.estimator_.budget_, clf.estimator_.config_
    assert budget is not None and clf.estimator_.runtime_.is_cuda
    assert (budget["batch_size"], budget["lr"]) == (cfg.batch_size, cfg.lr)  # trained at the batch it measured


def test_timm_and_the_lite0_probe_and_a_pixel_model(tmp_path):
    import trueclass as tc

    for model, params in (("timm:resnet18", {"epochs": 1, "batch_size": 64}), ("lite0", {}), ("logreg", {}),
                          ("timm:tf_efficientnet_lite0", {"pretrained": True, "epochs": 1, "input_size": 64}),
                          ("cnn", {"epochs": 2, "class_weight": "balanced", "ema": 0.99}),
                          ("cnn", {"epochs": 2, "balanced_sampling": True})):  # its draws moved to the GPU
        out = tmp_path / f"{model.replace(':', '-')}-{len(list(tmp_path.iterdir()))}"
        run = tc.train("digits", model=model, params=params, out=out, audit=False)
        assert run.metrics["accuracy"] > 0.5, model
        failed = [w for w in run.metrics.get("warnings") or [] if w.get("kind") == "step_failed"]
        assert not failed, (model, failed)  # a late step (Grad-CAM on a timm net, ...) that failed on the GPU


def test_same_seed_same_weights_on_the_gpu_and_fp32_is_not_tf32():
    import trueclass as tc
    from sklearn.datasets import load_digits

    from trueclass.training import pick_runtime
    from trueclass.training._device import gpu_precision

    rt = pick_runtime("fp32")
    assert rt.is_cuda and rt.precision == "fp32" and not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    major = torch.cuda.get_device_capability()[0]
    assert pick_runtime("auto").precision == gpu_precision(rt.device) == ("bf16" if major >= 8 else "fp16" if major >= 7 else "fp32")
    d = load_digits()
    probs = [tc.ImageClassifier("cnn", epochs=2, random_state=0).fit(d.images[:600], d.target[:600])
             .predict_proba(d.images[600:700]) for _ in range(2)]
    np.testing.assert_array_equal(probs[0], probs[1])  # cuDNN's deterministic algorithms


def test_a_notebooks_own_torch_switches_come_back_after_a_gpu_fit():
    import trueclass as tc
    from sklearn.datasets import load_digits

    switches = lambda: (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,  # noqa: E731
                        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    before = switches()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = False
    try:
        d = load_digits()
        clf = tc.ImageClassifier("cnn", epochs=1, random_state=0).fit(d.images[:300], d.target[:300])
        assert clf.estimator_.training_record()["runtime"].startswith("cuda")
        assert switches() == (True, True, False, True)  # the user's, as they were before the fit
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic,
         torch.backends.cudnn.benchmark) = before


def test_images_on_the_gpu_train_the_same_weights_as_images_copied_a_batch_at_a_time(monkeypatch):
    import trueclass as tc
    import trueclass.training._batches as batches
    from sklearn.datasets import load_digits

    d = load_digits()

    def fit():
        return tc.ImageClassifier("cnn", epochs=2, random_state=0).fit(d.images[:600], d.target[:600])

    on_gpu = fit()
    monkeypatch.setattr(batches, "RESIDENT_SHARE", 0.0)  # never fits: each batch copied from the host
    copied = fit()
    a, b = (m.estimator_.net_.state_dict() for m in (on_gpu, copied))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fp16_with_loss_scaling_trains_on_the_gpu_and_resumes_to_the_same_weights(tmp_path):
    """fp16 is the default on a T4 or V100: here asked for on whatever GPU this is."""
    import trueclass as tc

    parts = tc.split(tc.load("digits"), seed=0, val_size=0.1)

    def stop_in_epoch_2(stage, done, total, **info):
        if stage.startswith("epoch 2/"):
            raise KeyboardInterrupt

    kw = dict(epochs=3, random_state=0, patience=0, precision="fp16")
    whole = tc.ImageClassifier("cnn", **kw).fit(parts.train, val=parts.val)
    assert whole.estimator_.runtime().precision == "fp16" and whole.score(parts.test) > 0.9
    ck = tmp_path / "ck.safetensors"
    with pytest.raises(tc.TrainingInterrupted, match="resume=True"):
        tc.ImageClassifier("cnn", **kw).fit(parts.train, val=parts.val, checkpoint=ck, on_progress=stop_in_epoch_2)
    resumed = tc.ImageClassifier("cnn", **kw).fit(parts.train, val=parts.val, checkpoint=ck, resume=True)
    a, b = (m.estimator_.net_.state_dict() for m in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_one_gpu_named_for_several_processes_is_one_sentence(tmp_path):
    res = _cli("train", "digits", "--model", "cnn", "--nproc", "2", "--device", "cuda:0", "--out", "np", cwd=tmp_path)
    assert res.returncode == 1 and "would put all 2 processes on GPU 0" in res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and not (tmp_path / "np").exists()


def test_nproc_with_more_processes_than_gpus_is_one_sentence(tmp_path):
    n = torch.cuda.device_count() + 1
    res = _cli("train", "digits", "--model", "cnn", "--nproc", str(n), "--out", "np", cwd=tmp_path)
    assert res.returncode == 1 and "one GPU each" in res.stderr and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "np").exists()


@pytest.mark.parametrize("cpu", [["--device", "cpu"], ["-p", "device=cpu"]], ids=["device", "model-param"])
def test_nproc_on_the_cpu_of_a_gpu_machine(tmp_path, cpu):
    # -p device=cpu (the model's own device) chose nccl for a net on the CPU, which DDP refused
    res = _cli("train", "digits", "--model", "cnn", "-p", "epochs=2", "--nproc", "2", *cpu, "--out",
               "np", "--no-audit", cwd=tmp_path, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    cfg = json.loads((tmp_path / "np" / "config.json").read_text())
    assert cfg["resolved"]["distributed"]["backend"] == "gloo"
    assert cfg["resolved"]["runtime_used"].startswith("cpu")


def test_nccl_on_every_gpu(tmp_path):
    n = torch.cuda.device_count()
    res = _cli("train", "digits", "--model", "cnn", "-p", "epochs=2", "--nproc", str(n), "--out", "nc",
               "--no-audit", cwd=tmp_path, timeout=400)
    if n == 1:  # one process: no process group is needed, the plain run
        assert res.returncode == 0, res.stderr[-3000:]
        return
    assert res.returncode == 0, res.stderr[-3000:]
    cfg = json.loads((tmp_path / "nc" / "config.json").read_text())
    assert cfg["resolved"]["distributed"]["backend"] == "nccl"


def test_the_backbone_embeds_on_the_gpu_as_onnx_runtime_does_on_the_cpu():
    from trueclass.features import _backbone

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 40, 40, 3), dtype=np.uint8)
    gpu = _backbone.Embedder()  # auto: PyTorch on the GPU, fp32
    assert gpu.session is None and gpu.rt.is_cuda and gpu.rt.precision == "fp32" and gpu.key.endswith("torch-fp32-cuda-f32")
    cpu = _backbone.Embedder(engine="onnx")  # ONNX Runtime on the CPU (the export extra)
    np.testing.assert_allclose(gpu(images), cpu(images), atol=1e-4)


def test_a_multilabel_network_on_the_gpu():
    """Multi-label targets (floats, one column a class) live on the GPU with the images."""
    import trueclass as tc

    rng = np.random.default_rng(0)
    x = rng.integers(0, 40, size=(400, 16, 16, 1), dtype=np.uint8)
    y = rng.integers(0, 2, size=(400, 2))
    x[y[:, 0] == 1, 2:6, 2:6] = 255  # a bright square top left: label 0
    x[y[:, 1] == 1, 10:14, 10:14] = 255  # bottom right: label 1
    clf = tc.ImageClassifier("cnn", epochs=4, width=8, random_state=0).fit(x[:300], y[:300])  # 2-D y: multi-label
    assert clf.estimator_.runtime_.is_cuda
    assert (clf.predict_proba(x[300:]).round() == y[300:]).all(axis=1).mean() > 0.8
