"""One runtime decides where tensors live: the device choice, its refusals, and a check
that network code builds its tensors through the runtime (what a CPU machine can catch of
device bugs; tests/cuda runs the same paths on a GPU)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trueclass._errors import TrueclassError  # noqa: E402
from trueclass.training import _distributed as dist  # noqa: E402
from trueclass.training._device import pick_runtime, resolve_device  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src" / "trueclass"


def test_auto_is_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    rt = pick_runtime("fp32")
    assert rt.device == "cpu" and rt.device_type == "cpu" and not rt.is_cuda


@pytest.mark.parametrize("asked", ["cuda", "cuda:0", "CUDA:1"])
def test_a_gpu_asked_for_where_there_is_none_is_one_sentence(monkeypatch, asked):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TrueclassError, match=r"asks for a CUDA GPU, but .*use device='cpu'"):
        resolve_device(asked)


def test_a_gpu_number_past_the_last_is_one_sentence(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(TrueclassError, match=r"names GPU 1, but this machine has 1 \(cuda:0\)"):
        resolve_device("cuda:1")


def test_a_meaningless_device_is_one_sentence():
    with pytest.raises(TrueclassError, match="device must be 'auto', 'cpu', 'cuda' or 'cuda:K'"):
        resolve_device("gpu")


def test_the_environment_sets_the_default(monkeypatch):
    monkeypatch.setenv("TRUECLASS_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cpu"
    assert resolve_device(None) == "cpu"


def test_under_torchrun_auto_takes_this_process_gpu(monkeypatch):
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == "cuda:1"


def test_more_processes_than_gpus_is_one_sentence(monkeypatch):
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    dist.check_gpus_for(1)
    with pytest.raises(TrueclassError, match=r"nproc=2 asks for 2 processes on this machine, one GPU each, but it "
                                             r"has 1 GPU; .*device='cpu'"):
        dist.check_gpus_for(2)
    monkeypatch.setenv("TRUECLASS_DEVICE", "cpu")  # processes on the CPU need no GPU
    dist.check_gpus_for(2)


def test_one_gpu_named_for_several_processes_is_one_sentence(monkeypatch):
    # every process went to GPU K, and nccl failed ("Duplicate GPU detected") or hung
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    with pytest.raises(TrueclassError, match=r"device='cuda:1' would put all 2 processes on GPU 1; with nproc=2 use "
                                             r"device='cuda' \(one GPU a process\) or device='cpu'"):
        dist.check_gpus_for(2, "cuda:1")
    monkeypatch.setenv("TRUECLASS_DEVICE", "cuda:0")
    with pytest.raises(TrueclassError, match="would put all 2 processes on GPU 0"):
        dist.check_gpus_for(2)
    dist.check_gpus_for(2, "cuda")  # one GPU a process
    monkeypatch.delenv("TRUECLASS_DEVICE")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")  # inside torchrun: auto is this process's own GPU
    dist.check_gpus_for(2)
    assert resolve_device("cuda") == "cuda:1"  # and so is "cuda", not whichever GPU is current later


def test_the_models_own_device_chooses_gloo_or_nccl(monkeypatch):
    # -p device=cpu on a GPU machine: nccl was chosen for a net on the CPU (DDP refused it), and
    # --nproc 2 on a one-GPU machine was refused although no GPU was asked for
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    assert dist.backend_for("cpu") == "gloo" and dist.backend_for("auto") == "nccl"
    dist.check_gpus_for(2, "cpu")
    from click.testing import CliRunner

    from trueclass import cli as cli_mod

    launched = []
    monkeypatch.setattr(cli_mod, "_launch_torchrun", lambda n: launched.append(n) or 0)
    res = CliRunner().invoke(cli_mod.cli, ["train", "digits", "--model", "cnn", "--nproc", "2", "-p", "device=cpu"])
    assert res.exit_code == 0 and launched == [2], res.output


def test_bf16_on_gpus_that_compute_it_fp16_on_t4s_and_fp32_on_a_gpu_is_not_tf32(monkeypatch):
    from trueclass.training import pick_runtime

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    monkeypatch.delenv("TRUECLASS_PRECISION", raising=False)
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark, matmul.allow_tf32)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # says yes on a T4 too
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 5))  # a T4, Colab's GPU
    try:
        t4 = pick_runtime("auto")
        assert t4.precision == "fp16" and t4.half is torch.float16 and "loss scaling" in t4.describe()
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (6, 0))  # a P100: no tensor cores
        assert pick_runtime("auto").precision == "fp32"
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))  # an H100
        assert pick_runtime("auto").precision == "bf16" and pick_runtime("fp32").precision == "fp32"
        assert pick_runtime("fp16").precision == "fp16"  # asked for, it is had
        assert not cudnn.allow_tf32 and not matmul.allow_tf32
        assert cudnn.deterministic and not cudnn.benchmark
    finally:  # the flags are the process's: put them back for the tests after this one
        cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark, matmul.allow_tf32 = saved


def test_cli_device_cuda_without_cuda_is_refused_before_any_work(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from trueclass.cli import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "cnn", "--device", "cuda", "--out", "run"])
    assert res.exit_code == 1
    assert "--device cuda asks for a CUDA GPU" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()
    assert os.environ.get("TRUECLASS_DEVICE") is None  # nothing set for a refused value


def test_cli_nproc_more_than_gpus_is_refused_before_launching(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from trueclass import cli as cli_mod

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    monkeypatch.setattr(cli_mod, "_launch_torchrun", lambda n: pytest.fail("torchrun was launched"))
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli_mod.cli, ["train", "digits", "--model", "cnn", "--nproc", "2", "--out", "run"])
    assert res.exit_code == 1, res.output
    assert "--nproc 2 asks for 2 processes on this machine, one GPU each, but it has 1 GPU" in res.output
    assert "--device cpu" in res.output and not (tmp_path / "run").exists()


def test_a_network_parameter_asking_for_a_gpu_fails_before_training(monkeypatch):
    import trueclass as tc

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TrueclassError, match="asks for a CUDA GPU"):
        tc.ImageClassifier("cnn", device="cuda", epochs=1).fit(np.zeros((40, 8, 8), np.uint8), np.arange(40) % 2)


def test_the_saved_network_stays_on_the_cpu_and_a_loaded_one_runs_where_it_is(tmp_path):
    """The weights the model keeps (saved, exported) never leave the CPU; prediction runs on
    the runtime's copy, and a loaded model's device is this machine's choice."""
    import trueclass as tc
    from sklearn.datasets import load_digits

    d = load_digits()
    clf = tc.ImageClassifier("cnn", epochs=1, width=8, device="cpu", random_state=0).fit(d.images[:300], d.target[:300])
    est = clf.estimator_
    assert all(p.device.type == "cpu" for p in est.net_.parameters())
    p1 = clf.predict_proba(d.images[300:340])
    clf.save(tmp_path / "m")
    back = tc.load_model(tmp_path / "m")
    assert back.estimator_.params["device"] == "auto"
    # on a GPU machine the loaded model runs there (bf16 on Ampere and later): close, not equal
    np.testing.assert_allclose(back.predict_proba(d.images[300:340]), p1, atol=3e-2 if torch.cuda.is_available() else 1e-6)


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_network_code_places_tensors_only_through_the_runtime():
    """Autocast, device moves and tensors made on a device go through training._device's
    Runtime (or _distributed's own collectives): a device chosen anywhere else is how the
    Grad-CAM path once built its mean on the GPU and its network on the CPU."""
    allowed = {SRC / "training" / "_device.py", SRC / "training" / "_distributed.py"}
    found = []
    for path in SRC.rglob("*.py"):
        if path in allowed:
            continue
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            f = call.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            where = f"{path.relative_to(SRC)}:{call.lineno}"
            on_torch = isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "torch"
            if name in ("cuda", "set_device") or (name == "autocast" and on_torch):
                found.append(f"{where} {name}()")
            for kw in call.keywords:
                # a torch tensor made on a device, or a move: only to a device read off a tensor already placed
                if kw.arg == "device" and (on_torch or name == "to"):
                    ok = isinstance(kw.value, ast.Attribute) and kw.value.attr == "device" or (
                        isinstance(kw.value, ast.Name) and kw.value.id == "dev")
                    if not ok:
                        found.append(f"{where} device={ast.unparse(kw.value)}")
            if name == "to" and call.args and isinstance(call.args[0], ast.Constant):
                # only the model keeps its own copy of the weights on the CPU (what is saved and exported)
                if call.args[0].value != "cpu" or path != SRC / "models" / "_torch.py":
                    found.append(f"{where} .to({call.args[0].value!r})")
    assert not found, "tensors placed outside the runtime:\n" + "\n".join(found)


def test_training_images_live_on_a_gpu_only_when_they_fit():
    """The steps index a GPU copy of the images when they take at most a quarter of its free
    memory; on a CPU, for images read from disk, or when they do not fit, they stay as they are."""
    from trueclass.training._batches import RESIDENT_SHARE, DiskNCHW, resident
    from trueclass.training._device import Runtime

    x = torch.zeros((100, 1, 8, 8), dtype=torch.uint8)  # 6,400 bytes
    cpu = Runtime(device="cpu", precision="fp32", channels_last=False, threads=1)
    assert resident(x, cpu, free_bytes=10**9) is x

    class Gpu(Runtime):  # a GPU runtime whose device is torch's meta device: a move is visible
        @property
        def is_cuda(self):
            return True

    gpu = Gpu(device="meta", precision="fp32", channels_last=False, threads=1)
    assert resident(x, gpu, free_bytes=x.numel() / RESIDENT_SHARE - 1) is x  # does not fit: left on the host
    moved = resident(x, gpu, free_bytes=x.numel() / RESIDENT_SHARE)
    assert moved.device.type == "meta" and moved.shape == x.shape and moved.dtype == torch.uint8  # moved as stored
    disk = DiskNCHW(np.zeros((4, 8, 8, 1), dtype=np.uint8))
    assert resident(disk, gpu, free_bytes=10**12) is disk  # read a batch at a time: never whole


def test_the_share_of_the_device_a_training_run_used(monkeypatch):
    """FLOPs a training image counted on a real forward and backward pass (the default cnn at
    28x28: 179 MFLOP, docs/benchmarks.md), a measured matrix-multiply peak, and the words."""
    from trueclass.models._nets import build_cnn
    from trueclass.report._text import device_share, format_training
    from trueclass.training._speed import device_use, flops_per_image, matmul_flops
    from trueclass.training._trainer import TrainConfig, Trainer

    rt = pick_runtime("fp32", device="cpu")
    trainer = Trainer(TrainConfig(), rt, mean=rt.channel_stats([0.5]), std=rt.channel_stats([0.25]), scale=255.0)
    net = build_cnn(1, 10, (28, 28))
    net.train()
    bn = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    before = bn.running_mean.clone()
    xb = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    per_image = flops_per_image(trainer, net, xb)
    # convolutions and the head, forward and backward: the figure the benchmarks table gives
    assert 178e6 < per_image < 180e6
    assert torch.equal(bn.running_mean, before) and all(p.grad is None for p in net.parameters())

    frozen = build_cnn(1, 10, (28, 28))
    for p in frozen.parameters():
        p.requires_grad_(False)
    assert flops_per_image(trainer, frozen, xb) < per_image / 2  # nothing differentiated: the forward pass only

    peak = matmul_flops(rt, side=256, reps=3)
    assert 1e8 < peak < 1e14  # a CPU's FLOP/s, measured
    monkeypatch.setattr("trueclass.training._speed.matmul_flops", lambda rt_: 2e11)
    use = device_use(trainer, net, xb, images_per_second=1000.0, processes=2)
    assert use["peak_tflops"] == 0.2 and use["gflop_per_image"] == pytest.approx(0.1788, abs=1e-3)
    assert use["share"] == pytest.approx(1000 * per_image / (2 * 2e11), abs=1e-4)  # of both processes' devices
    words = device_share(use)
    assert words.startswith(" (44.7% of the 0.2 TFLOP/s the ") and "large fp32 matrix multiply; 0.179 GFLOP" in words
    line = format_training({"epochs_run": 3, "runtime": "cuda, bf16 autocast", "images_per_second": 1000.0,
                            "device_use": use, "history": [], "best_epoch": 3})
    assert line.startswith("3 epochs on cuda, bf16 autocast, 1,000 images/s (44.7% of the 0.2 TFLOP/s")
    assert device_share({"unmeasured": "RuntimeError: out of memory"}) == "" and device_share(None) == ""


def test_a_runs_model_device_is_the_device_of_everything_the_run_builds(monkeypatch):
    """-p device=cpu (device= in Python) on a GPU machine: the audit's label model, the
    backbone and the checks resolve "auto" to the CPU too while the run lasts (as --device
    makes it for a command), and the setting is put back after, even after a failure."""
    import trueclass.run.pipeline as pipeline
    from trueclass.run import RunConfig
    from trueclass.training._device import device_for_run, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    assert resolve_device("auto") == "cuda"
    seen = []
    monkeypatch.setattr(pipeline, "_run_training", lambda config, **kw: seen.append(resolve_device("auto")))
    pipeline.run_training(RunConfig(source="digits", model="cnn", params={"device": "cpu"}))
    pipeline.run_training(RunConfig(source="digits", model="cnn"))
    assert seen == ["cpu", "cuda"] and resolve_device("auto") == "cuda"
    with pytest.raises(RuntimeError), device_for_run("cpu"):
        raise RuntimeError("a failed run")
    assert resolve_device("auto") == "cuda" and "TRUECLASS_DEVICE" not in os.environ
    monkeypatch.setenv("TRUECLASS_DEVICE", "cuda:0")
    with device_for_run("cpu"):
        assert resolve_device("auto") == "cpu"
    assert resolve_device("auto") == "cuda:0"


def test_a_runs_device_setting_is_the_same_through_both_doors_and_kept_on_resume(tmp_path, monkeypatch):
    """--device cpu and train(device="cpu") write the same config.json and repeat command;
    on a GPU machine --resume goes on on the CPU the run was started on (not "auto", the
    GPU), unless --device moves it."""
    import json

    from click.testing import CliRunner

    import trueclass as tc
    import trueclass.run.pipeline as pipeline
    from trueclass.cli import cli
    from trueclass.run import RunConfig

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "logreg", "--device", "cpu", "--no-audit",
                                   "--out", "cli"])
    assert res.exit_code == 0, res.output
    tc.train("digits", model="logreg", device="cpu", audit=False, out="py")
    by_cli, by_py = (json.loads((tmp_path / d / "config.json").read_text()) for d in ("cli", "py"))
    assert by_cli["device"] == by_py["device"] == "cpu"
    assert "--device cpu" in by_cli["command"] and by_cli["command"] == by_py["command"]
    assert os.environ.get("TRUECLASS_DEVICE") is None  # the run's own setting, not the process's

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    (stopped / "config.json").write_text(json.dumps(RunConfig(model="cnn", device="cpu").to_dict()))
    seen = []
    monkeypatch.setattr(pipeline, "_run_training", lambda config, **kw: seen.append(
        (resolve_device("auto"), config.device)))
    CliRunner().invoke(cli, ["train", "--resume", str(stopped)], catch_exceptions=False)
    CliRunner().invoke(cli, ["train", "--resume", str(stopped), "--device", "cuda"], catch_exceptions=False)
    CliRunner().invoke(cli, ["train", "--resume", str(stopped), "--device", "cpu", "--precision", "fp16"],
                       catch_exceptions=False)  # a run begun in fp16 on a T4, moved to a CPU in another precision
    assert seen.pop() == ("cpu", "cpu") and pipeline.resumed_config(stopped, precision="fp16").precision == "fp16"
    assert pipeline.resumed_config(stopped, device="auto").device is None  # back to this machine's choice
    assert seen == [("cpu", "cpu"), ("cuda", "cuda")]
    # any other setting beside --resume would be dropped in silence: refused, before any work
    res = CliRunner().invoke(cli, ["train", "digits", "--resume", str(stopped), "--model", "logreg", "--seed", "5",
                                   "--epochs", "3"])
    assert res.exit_code == 1 and len(seen) == 2, res.output
    assert ("leave out SOURCE, --model, --seed, --epochs (only --nproc, --device, --precision, --data-dir go with "
            "it)") in res.output
    # two processes on the CPU the run began on, where the machine has one GPU: launched, not refused
    import trueclass.cli as cli_mod

    monkeypatch.setattr(cli_mod, "_launch_torchrun", lambda n: seen.append(("launched", n)) or 0)
    res = CliRunner().invoke(cli, ["train", "--resume", str(stopped), "--nproc", "2"])
    assert res.exit_code == 0 and seen[-1] == ("launched", 2), res.output
    res = CliRunner().invoke(cli, ["train", "--resume", str(stopped), "--nproc", "2", "--device", "cuda"])
    assert res.exit_code == 1 and "one GPU each, but it has 1 GPU" in res.output and len(seen) == 3


def test_the_precision_a_run_was_started_with_is_kept_by_resume_and_the_repeat_command(tmp_path, monkeypatch):
    """TRUECLASS_PRECISION=fp32 (or --precision, precision= in Python) is the run's: config.json
    and its command keep it, so --resume goes on in fp32 where the environment variable is
    gone (it went on in bf16, and ended with other weights than a run never stopped); the
    network's own params precision still wins over the variable."""
    import json

    from click.testing import CliRunner

    import trueclass.run.pipeline as pipeline
    from trueclass.cli import cli
    from trueclass.run import RunConfig
    from trueclass.training._device import pick_runtime

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRUECLASS_PRECISION", "FP32")
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "logreg", "--no-audit", "--out", "env"])
    assert res.exit_code == 0, res.output
    monkeypatch.delenv("TRUECLASS_PRECISION")
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "logreg", "--no-audit", "--precision", "fp32",
                                   "--out", "flag"])
    assert res.exit_code == 0, res.output
    by_env, by_flag = (json.loads((tmp_path / d / "config.json").read_text()) for d in ("env", "flag"))
    assert by_env["precision"] == by_flag["precision"] == "fp32" and "--precision fp32" in by_env["command"]
    # a network's model.json keeps the run's precision: evaluate and predict compute as the run did
    import trueclass as tc

    monkeypatch.setenv("TRUECLASS_PRECISION", "fp32")
    tc.train("digits", model="cnn", params={"epochs": 1, "width": 4}, audit=False, out="net")
    monkeypatch.delenv("TRUECLASS_PRECISION")
    assert tc.load_model("net").estimator_.runtime().precision == "fp32"

    stopped = tmp_path / "stopped"
    stopped.mkdir()
    (stopped / "config.json").write_text(json.dumps(by_env))
    seen = []
    monkeypatch.setattr(pipeline, "_run_training", lambda config, **kw: seen.append(pick_runtime().precision))
    pipeline.resume(stopped)
    monkeypatch.setenv("TRUECLASS_PRECISION", "bf16")
    pipeline.run_training(RunConfig(model="cnn", params={"precision": "fp16"}))  # the model's own wins
    assert seen == ["fp32", "fp16"]


def test_a_run_device_and_a_model_device_that_differ_are_one_sentence(tmp_path, monkeypatch):
    import trueclass as tc

    monkeypatch.chdir(tmp_path)
    with pytest.raises(TrueclassError, match=r"device='cpu' and the model's params device='cuda' differ; give one"):
        tc.train("digits", model="cnn", device="cpu", params={"device": "cuda"})
    assert not (tmp_path / "runs").exists()


def test_runs_in_two_threads_keep_their_own_devices(monkeypatch):
    """A run's device is its thread's (a studio or notebook may run one beside another):
    neither sees the other's, and none is left behind."""
    import threading

    from trueclass.training._device import device_for_run

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    inside, go_on, seen = threading.Event(), threading.Event(), {}

    def run_on_cpu():
        with device_for_run("cpu"):
            inside.set()
            go_on.wait(10)
            seen["thread"] = resolve_device("auto")

    t = threading.Thread(target=run_on_cpu)
    t.start()
    inside.wait(10)
    with device_for_run("cuda"):
        seen["main"] = resolve_device("auto")
    go_on.set()
    t.join(10)
    assert seen == {"thread": "cpu", "main": "cuda"} and resolve_device("auto") == "cuda"


def test_the_run_records_the_gpu_it_used_or_none(monkeypatch):
    """metrics.json's environment names the GPU the run's networks use ("auto" as the run
    resolves it), not GPU 0 whatever the run did."""
    from trueclass.run.provenance import environment
    from trueclass.training._device import device_for_run

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: f"GPU {torch.device(d).index or 0}")
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    assert environment()["cuda"] == "GPU 0"
    with device_for_run("cuda:1"):
        assert environment()["cuda"] == "GPU 1"
    with device_for_run("cpu"):
        assert environment()["cuda"] is None


def test_the_backbone_is_built_again_where_auto_points_elsewhere(monkeypatch):
    import trueclass.features._backbone as backbone
    from trueclass.training._device import auto_device_setting, device_for_run

    made = []

    class Fake:
        key = "fake"

        def __init__(self, size, **kw):
            made.append(auto_device_setting())

        def __call__(self, images, on_progress=None):
            return np.zeros((len(images), 4), np.float32)

    monkeypatch.setattr(backbone, "Embedder", Fake)
    monkeypatch.setattr(backbone, "_EMBEDDERS", {})
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    images = np.zeros((2, 8, 8, 1), np.uint8)
    backbone.embed(images, cache=False)
    backbone.embed(images, cache=False)
    with device_for_run("cpu"):
        backbone.embed(images, cache=False)
    assert made == [None, "cpu"]


def test_a_ctrl_c_during_nproc_waits_for_torchrun_to_stop_its_processes(monkeypatch):
    """The processes had the Ctrl-C too and say what they kept; the launching command
    waits for them (it killed torchrun at once, through subprocess.call) and exits 130."""
    import subprocess

    calls = []

    class Torchrun:
        def __init__(self, cmd):
            calls.append(cmd)

        def wait(self, timeout=None):
            calls.append(timeout)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return 1

        pid = -1

    monkeypatch.setattr(subprocess, "Popen", Torchrun)
    monkeypatch.setattr(dist, "kill_with_children", lambda pid: calls.append("killed"))
    assert dist.relaunch(2, ["train", "digits", "--nproc", "2", "--model", "cnn"]) == 130
    assert "--nproc" not in calls[0] and calls[0][-3:] == ["digits", "--model", "cnn"]
    assert calls[1:] == [None, dist.STOP_SECONDS]  # waited again, and nothing was killed


def test_a_third_ctrl_c_does_not_stop_the_killing_half_way(monkeypatch):
    # a Ctrl-C while torchrun and its workers were being killed raised out of the kill: a
    # traceback, and the processes not yet killed ran on
    import signal
    import subprocess

    class Torchrun:
        pid = -1

        def __init__(self, cmd):
            self.waits = 0

        def wait(self, timeout=None):
            self.waits += 1
            raise KeyboardInterrupt  # the first Ctrl-C, then the second during the wait for it

    killed = []

    def kill(pid):
        os.kill(os.getpid(), signal.SIGINT)  # the third, half-way through
        killed.append(pid)

    monkeypatch.setattr(subprocess, "Popen", Torchrun)
    monkeypatch.setattr(dist, "kill_with_children", kill)
    before = signal.getsignal(signal.SIGINT)
    assert dist.relaunch(2, ["train", "digits", "--nproc", "2"]) == 130
    assert killed == [-1] and signal.getsignal(signal.SIGINT) is before


def test_torchrun_killed_after_a_second_ctrl_c_takes_its_workers_with_it():
    # regression: only torchrun was killed; its workers, in sessions of their own, ran on
    import subprocess
    import sys

    import psutil

    launcher = ("import subprocess, sys, time\n"
                "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
                "print(w.pid, flush=True)\n"
                "time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", launcher], stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    assert psutil.Process(worker).ppid() == proc.pid
    dist.kill_with_children(proc.pid)
    proc.wait(timeout=10)

    def gone(pid):
        return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    assert gone(proc.pid) and gone(worker), "the worker outlived its launcher"


SWITCHES = (("cuda.matmul", "allow_tf32"), ("cudnn", "allow_tf32"), ("cudnn", "deterministic"), ("cudnn", "benchmark"))


def _switches():
    import functools

    return [getattr(functools.reduce(getattr, p.split("."), torch.backends), n) for p, n in SWITCHES]


def _set_switches(values):
    import functools

    for (p, n), v in zip(SWITCHES, values):
        setattr(functools.reduce(getattr, p.split("."), torch.backends), n, v)


def test_a_gpu_runs_numeric_switches_are_put_back_for_the_notebooks_own_torch_code(monkeypatch):
    """A GPU run turns TF32 and cuDNN's autotuning off for the whole process (torch's
    switches); they stayed off after tc.train or fit returned, for the user's own code."""
    import trueclass as tc
    import trueclass.training as training
    from trueclass.training import _device

    real = _device.pick_runtime

    def as_on_a_gpu(*a, **k):  # the switches a CUDA runtime sets; the tensors stay on the CPU
        _device.cuda_numerics()
        return real(*a, **k)

    monkeypatch.setattr(_device, "pick_runtime", as_on_a_gpu)
    monkeypatch.setattr(training, "pick_runtime", as_on_a_gpu)
    before = _switches()
    users = [True, True, False, True]  # a notebook's own choice: TF32 on, autotuning on
    _set_switches(users)
    try:
        during = []
        ds = tc.load("digits")
        clf = tc.ImageClassifier("cnn", epochs=1, width=8).fit(
            ds, on_progress=lambda stage, *a, **k: during.append(_switches()) if stage.startswith("epoch") else None)
        assert during and all(s == [False, False, True, False] for s in during)  # fp32 is fp32, same seed same weights
        assert _switches() == users
        clf.predict(ds.images[:4])
        assert _switches() == users
    finally:
        _set_switches(before)


def test_the_backbones_own_doors_put_the_switches_back(monkeypatch):
    # review: trueclass.features.embed and Embedder set them on a GPU and left them set
    import numpy as np

    from trueclass import features, training
    from trueclass.training import _device

    real = _device.pick_runtime

    def as_on_a_gpu(*a, **k):
        _device.cuda_numerics()
        return real(*a, **k)

    real_autocast = _device.Runtime.autocast

    def autocast_as_on_a_gpu(self):  # a CUDA runtime's forward pass sets them again (Runtime.autocast)
        _device.cuda_numerics()
        return real_autocast(self)

    monkeypatch.setattr(training, "pick_runtime", as_on_a_gpu)
    monkeypatch.setattr(_device.Runtime, "autocast", autocast_as_on_a_gpu)
    monkeypatch.setattr(features._backbone, "_EMBEDDERS", {})  # embed builds its own here, not an earlier test's
    before = _switches()
    users = [True, True, False, True]
    _set_switches(users)
    try:
        images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
        assert features.embed(images, size=32, engine="torch", cache=False).shape == (2, 1280)
        assert _switches() == users
        embedder = features.Embedder(32, engine="torch")
        assert _switches() == users
        embedder(images)
        embedder.batch(images)
        assert _switches() == users
    finally:
        _set_switches(before)


def test_the_switches_are_put_back_only_when_the_last_call_ends_in_any_thread():
    # the studio's preview predicts while a training runs: its end must not undo the training's switches
    import threading

    from trueclass._numerics import cuda_numerics, keeps_torch_numerics

    before = _switches()
    _set_switches([True, True, False, True])
    started, release = threading.Event(), threading.Event()

    @keeps_torch_numerics
    def training():
        cuda_numerics()
        started.set()
        release.wait(10)
        return _switches()

    @keeps_torch_numerics
    def preview():
        cuda_numerics()

    try:
        worker = threading.Thread(target=lambda: seen.append(training()))
        seen = []
        worker.start()
        started.wait(10)
        preview()
        assert _switches() == [False, False, True, False]  # the training still runs: kept
        release.set()
        worker.join(10)
        assert seen == [[False, False, True, False]] and _switches() == [True, True, False, True]
    finally:
        release.set()
        _set_switches(before)


def test_a_kept_gpu_runtime_sets_the_switches_again_for_each_forward_pass(recwarn):
    # review: the backbone's embedder is built once and kept; the second call's embeddings ran
    # with the switches the first call had put back (TF32 on, autotuning)
    from trueclass._numerics import keeps_torch_numerics
    from trueclass.training._device import Runtime

    kept = Runtime(device="cuda", precision="fp32", channels_last=False, threads=1)  # built by an earlier call
    before = _switches()
    users = [True, True, False, True]
    _set_switches(users)

    @keeps_torch_numerics
    def later_call():
        with kept.autocast():
            return _switches()

    try:
        assert later_call() == [False, False, True, False] and _switches() == users
    finally:
        _set_switches(before)
