"""The studio trains in a thread: it trains again and again in one process, nothing in
it forks a process from that thread (a fork copies locks other threads hold, and a
second Train once hung at the label-error step), and the first Ctrl-C stops the studio
with no process left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from pathlib import Path

import pytest

from trueclass.studio import Project
from trueclass.studio import _training

from .conftest import H, make_client, wait_for_training


#: Every fork from a thread other than the main thread, with where it came from. The hang
#: it causes depends on timing, so the fork itself is what the tests look for.
FORKS_FROM_THREADS: list[str] = []


def _record_fork() -> None:
    if threading.current_thread() is not threading.main_thread():
        FORKS_FROM_THREADS.append(f"{threading.current_thread().name}:\n{''.join(traceback.format_stack(limit=14))}")


if hasattr(os, "register_at_fork"):  # once, for the whole session
    os.register_at_fork(before=_record_fork)


def train(client, model: str, timeout: float = 240) -> dict:
    r = client.post("/api/train", json={"model": model}, headers=H)
    assert r.status_code == 200, r.text
    return wait_for_training(client, timeout)


def digits_project(client, per_class: int = 5) -> None:
    assert client.post("/api/builtin", json={"name": "digits", "per_class": per_class}, headers=H).status_code == 200


def label_step_ran(client, run: str) -> bool:
    """The audit ranked label errors with cleanlab (the step that forked)."""
    audit = json.loads((client.root / ".trueclass" / "runs" / run / "audit.json").read_text())
    return audit.get("label_issues_skipped") is None and "cleanlab" in (audit.get("label_issues_checked_on") or "")


def test_the_studio_trains_three_times_in_a_row(client):
    # the second and third Train once hung for good at "audit: looking for label errors"
    digits_project(client)
    FORKS_FROM_THREADS.clear()
    runs = []
    for _ in range(3):
        st = train(client, "knn")  # the fastest model; the audit's label step runs all the same
        assert st["status"] == "done", st
        runs.append(st["result"]["run"])
        assert label_step_ran(client, runs[-1])
    assert len(set(runs)) == 3
    assert not FORKS_FROM_THREADS, "forked from a thread:\n" + "\n".join(FORKS_FROM_THREADS)


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs os.register_at_fork")
@pytest.mark.parametrize("model", ["svm", pytest.param("forest", marks=pytest.mark.slow)])
def test_nothing_forks_from_the_training_thread(client, model):
    # svm calibrates by cross-validation; the forest uses every core (with threads)
    digits_project(client)
    FORKS_FROM_THREADS.clear()
    st = train(client, model)
    assert st["status"] == "done", st
    assert label_step_ran(client, st["result"]["run"])
    assert not FORKS_FROM_THREADS, "forked from a thread:\n" + "\n".join(FORKS_FROM_THREADS)


def test_a_stopping_studio_stops_the_training_at_its_next_report(tmp_path, monkeypatch):
    reports = []

    def slow_training(project, settings, on_progress, **_):
        for k in range(10_000):
            on_progress("epoch", k, 10_000)
            reports.append(k)
            time.sleep(0.01)
        return {}

    monkeypatch.setattr(_training, "train_project", slow_training)
    trainer = _training.Trainer(Project(tmp_path / "proj"))
    trainer.start({})
    while not reports:
        time.sleep(0.01)
    said = []
    _training.stop_training(trainer, said.append, exit_process=True)  # stops in time: the process goes on
    assert not trainer.thread.is_alive() and len(reports) < 10_000
    assert trainer.state == {"status": "failed", "message": "The studio stopped before the training finished."}
    assert said == ["Stopping the training in progress..."]


def test_a_training_that_does_not_stop_in_time_ends_with_the_process(tmp_path, monkeypatch):
    release = threading.Event()

    def silent_training(project, settings, on_progress, **_):  # a long fit that reports nothing
        release.wait(30)
        return {}

    monkeypatch.setattr(_training, "train_project", silent_training)
    trainer = _training.Trainer(Project(tmp_path / "proj"))
    trainer.start({})
    said = []
    _training.stop_training(trainer, said.append, timeout=0.2)  # a notebook: the process goes on
    assert trainer.thread.is_alive() and "did not stop within 0.2 s" in said[-1]

    exits = []

    def no_exit(code):
        exits.append(code)

    monkeypatch.setattr(os, "_exit", no_exit)
    monkeypatch.setattr("multiprocessing.active_children", list)  # the test's own processes are not the studio's
    _training.stop_training(trainer, said.append, timeout=0.2, exit_process=True)  # `trueclass studio`
    assert exits == [130] and "abandoned where it stood" in said[-1]
    release.set()
    trainer.thread.join(10)


# -- the real server, stopped with one Ctrl-C ---------------------------------------------------
def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid``, and theirs (from /proc)."""
    parent_of = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent_of[int(stat.parent.name)] = int(fields[1])
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parent_of.items() if pp == p}
        todo += list(kids - out)
        out |= kids
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_one_ctrl_c_stops_the_studio_mid_training_and_leaves_no_process(tmp_path, inherited):
    # "ignored": started with SIGINT ignored, as a background job of a script is; uvicorn
    # still stops on it, and the studio must still end as a Ctrl-C does (130), not with 0
    disposition = signal.SIG_IGN if inherited == "ignored" else signal.SIG_DFL
    proc = subprocess.Popen([sys.executable, "-m", "trueclass.cli", "studio", str(tmp_path / "proj"), "--port", "0",
                             "--no-browser"], stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, disposition))
    try:
        lines = []
        while not any("Open http" in x for x in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        url = re.search(r"Open (http://\S+)", "".join(lines)).group(1)
        page = urllib.request.urlopen(url, timeout=20).read().decode()
        token = re.search(r'name="trueclass-token" content="([^"]+)"', page).group(1)

        def post(path: str, body: dict) -> dict:
            req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"x-trueclass-token": token, "content-type": "application/json"})
            return json.loads(urllib.request.urlopen(req, timeout=120).read())

        post("api/builtin", {"name": "digits", "per_class": 150})
        post("api/train", {"model": "cnn", "epochs": 200})  # far longer than the test waits
        seen, t = set(), time.time()
        while True:  # until it is fitting the network: the Ctrl-C that once aborted in torch
            seen |= _children(proc.pid)
            st = json.loads(urllib.request.urlopen(url + "api/project", timeout=20).read())["training"]
            assert st["status"] == "running", st
            if st["stage"].startswith("epoch"):
                break
            assert time.time() - t < 180, f"training did not reach its epochs: {st}"
            time.sleep(0.2)
        time.sleep(1)
        seen |= _children(proc.pid)
        t = time.time()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            raise AssertionError("one Ctrl-C did not stop the studio within 20 s") from None
        took = time.time() - t
        err = proc.stderr.read()
        assert proc.returncode == 130, (proc.returncode, err)  # not killed by a signal (an abort is -6)
        assert "Traceback" not in err and "FATAL" not in err, err
        assert "Stopping the training in progress" in err
        assert "Studio stopped; the project and its runs are kept in" in err  # not "nothing further was written"
        assert took < 20
        assert not [p for p in seen if _alive(p)], f"left behind: {seen}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(20)


def stopped_on_the_page(client, monkeypatch) -> tuple[dict, Path]:
    """A cnn on 8 digits a class, 3 epochs, stopped by the page's Stop in its second epoch:
    (the training's state, its run folder); later trainings report as usual."""
    digits_project(client, per_class=8)
    trainer = client.app.state.trainer
    report = trainer._progress

    def stop_in_epoch_2(stage, done=0, total=0, **info):
        if stage.startswith("epoch 2/"):
            trainer.request_stop()
        report(stage, done, total, **info)

    monkeypatch.setattr(trainer, "_progress", stop_in_epoch_2)
    assert client.post("/api/train", json={"model": "cnn", "epochs": 3}, headers=H).status_code == 200
    st = wait_for_training(client)
    monkeypatch.setattr(trainer, "_progress", report)
    (stopped,) = (client.root / ".trueclass" / "runs").iterdir()
    return st, stopped


def test_a_training_stopped_on_the_page_goes_on_to_the_result_it_would_have_had(client, monkeypatch):
    # a Stop used to leave its folder (checkpoint and config) where the page could not reach it
    st, stopped = stopped_on_the_page(client, monkeypatch)
    assert st["status"] == "failed" and st["resumable"] is True
    assert re.fullmatch(r"Training stopped during epoch [23] of 3\. What it had done is kept: Go on from there, or "
                        r"Train anew\.", st["message"]), st["message"]
    assert client.post("/api/train/resume", json={}, headers=H).status_code == 200
    resumed = wait_for_training(client)
    assert resumed["status"] == "done" and resumed["result"]["run"] == stopped.name
    assert json.loads((stopped / "metrics.json").read_text())["training"]["resumed_from_epoch"] >= 1
    assert client.post("/api/train", json={"model": "cnn", "epochs": 3}, headers=H).status_code == 200
    whole = wait_for_training(client)  # the same training, never stopped
    for key in ("accuracy", "n_wrong", "n_test"):
        assert resumed["result"][key] == whole["result"][key], key
    assert (stopped / "predictions.csv").read_text() == (stopped.parent / whole["result"]["run"] /
                                                         "predictions.csv").read_text()
    r = client.post("/api/train/resume", json={}, headers=H)  # finished: nothing is left to go on with
    assert r.status_code == 400 and r.json()["error"] == "There is no stopped training to go on with; press Train."


def test_a_studio_started_again_offers_to_go_on_with_the_stopped_training(client, monkeypatch):
    # the stopped run was remembered by the studio process alone: started again on the same
    # project, its page offered Train only, and the folder lay there for nothing
    st, stopped = stopped_on_the_page(client, monkeypatch)
    assert st["resumable"] is True
    c2, app2 = make_client(client.root)
    with c2:
        again = c2.get("/api/project").json()["training"]
        assert again == {"status": "failed", "resumable": True, "message": "The last training stopped before it "
                         "finished. What it had done is kept: Go on from there, or Train anew."}
        assert app2.state.trainer.stopped == (stopped, {"model": "cnn", "epochs": 3})
        assert c2.post("/api/train/resume", json={}, headers=H).status_code == 200
        done = wait_for_training(c2)
        assert done["status"] == "done" and done["result"]["run"] == stopped.name
    c3, _ = make_client(client.root)
    with c3:  # finished: a third start has nothing to go on with
        assert c3.get("/api/project").json()["training"] == {"status": "idle"}


def test_a_new_training_discards_the_stopped_one(client, monkeypatch):
    st, stopped = stopped_on_the_page(client, monkeypatch)
    assert st["resumable"] is True
    client.post("/api/train", json={"model": "knn"}, headers=H)
    done = wait_for_training(client)
    assert done["status"] == "done" and not stopped.exists()  # nothing on the page could go on with it
    assert [p.name for p in stopped.parent.iterdir()] == [done["result"]["run"]]
    r = client.post("/api/train/resume", json={}, headers=H)
    assert r.status_code == 400


def test_go_on_after_the_images_changed_says_so_in_the_pages_words(client, monkeypatch):
    st, _ = stopped_on_the_page(client, monkeypatch)
    assert st["resumable"] is True
    one = next(p for p in sorted((client.root / "0").iterdir()) if p.suffix == ".png")
    one.unlink()  # an image deleted since the Stop
    assert client.post("/api/train/resume", json={}, headers=H).status_code == 200
    st = wait_for_training(client)
    assert st == {"status": "failed", "message": "The images changed since this training stopped (80 images in 10 "
                  "classes then, 79 in 10 now), so it cannot go on; press Train to train on them as they are."}
