"""Where a run is written: never inside the folder it learns from, never where trueclass
cannot write; both refused with one sentence before any work, with nothing created and
the source untouched, from the command line (exit status 1, no traceback) and from Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import trueclass as tc
import trueclass._paths as paths_mod
import trueclass.run.folder as folder_mod
import trueclass.run.pipeline as pipeline
from trueclass.cli import cli

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def listing(root: Path) -> list[tuple[str, int]]:
    return sorted((p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*"))


@pytest.fixture
def no_work(monkeypatch):
    """A refusal must come before the data is loaded."""
    def refuse(*a, **k):
        raise AssertionError("the data was loaded before the refusal")

    monkeypatch.setattr(pipeline, "load_step", refuse)


def refused(res) -> str:
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
    return res.output


# -- out inside the source folder -----------------------------------------------------------
def test_cli_out_inside_the_source_is_refused(make_folder, tmp_path, no_work):
    root = make_folder({"bars": 6, "cols": 6})
    before = listing(root)
    res = CliRunner().invoke(cli, ["train", str(root), "--model", "knn", "--out", str(root / "run")])
    text = refused(res)
    assert f"The run folder '{root / 'run'}' lies inside the source folder '{root}'" in text
    assert f"choose --out FOLDER outside '{root}'" in text
    assert listing(root) == before


def test_cli_default_runs_in_the_source_is_refused(make_folder, monkeypatch, no_work):
    root = make_folder({"bars": 6, "cols": 6})
    before = listing(root)
    monkeypatch.chdir(root)  # cd my_photos && trueclass train .
    text = refused(CliRunner().invoke(cli, ["train", ".", "--model", "knn"]))
    assert (f"The run folder would be written to 'runs/' inside the source folder '{root}' (the current folder)"
            in text)
    assert f"give --out FOLDER outside '{root}'" in text
    assert listing(root) == before and not (root / "runs").exists()


def test_cli_refusal_in_a_fresh_process_has_no_traceback(make_folder):
    root = make_folder({"bars": 6, "cols": 6})
    res = subprocess.run([sys.executable, "-m", "trueclass.cli", "train", ".", "--model", "knn"], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert "inside the source folder" in res.stderr and "Traceback" not in res.stderr + res.stdout
    assert not (root / "runs").exists()


def test_python_out_inside_the_source_is_refused(make_folder, monkeypatch, no_work):
    root = make_folder({"bars": 6, "cols": 6})
    before = listing(root)
    with pytest.raises(tc.TrueclassError, match=r"lies inside the source folder .*choose out=FOLDER outside"):
        tc.train(root, model="knn", out=root / "bars" / "run")
    monkeypatch.chdir(root / "bars")  # anywhere inside the source, runs/ would be too
    with pytest.raises(tc.TrueclassError, match=r"would be written to 'runs/' inside the source folder .*give "
                                                r"out=FOLDER outside"):
        tc.train(str(root), model="knn")
    assert listing(root) == before


def test_a_dataset_of_a_folder_is_refused_too(make_folder):
    root = make_folder({"bars": 6, "cols": 6})
    ds = tc.load(root)
    before = listing(root)
    with pytest.raises(tc.TrueclassError, match="lies inside the source folder"):
        tc.train(ds, model="knn", out=root / "run")
    assert listing(root) == before


def test_a_hidden_folder_of_the_source_may_hold_runs(make_folder):
    """The studio keeps a project's runs in its .trueclass/ folder, which no walk reads."""
    root = make_folder({"bars": 8, "cols": 8})
    run = tc.train(root, model="knn", audit=False, out=root / ".trueclass" / "runs" / "1")
    assert (run.path / "metrics.json").is_file()
    assert tc.load(root).classes == ("bars", "cols")


def test_evaluate_and_stress_out_inside_the_source_are_refused(make_folder, tmp_path, monkeypatch):
    root = make_folder({"bars": 8, "cols": 8})
    run = tc.train(root, model="knn", audit=False, out=tmp_path / "run")
    before = listing(root)
    text = refused(CliRunner().invoke(cli, ["evaluate", str(run.path), str(root), "--out", str(root / "ev")]))
    assert f"The run folder '{root / 'ev'}' lies inside the source folder '{root}'" in text
    assert "which should hold only the images to test on" in text  # not "to learn from": evaluate learns nothing
    text = refused(CliRunner().invoke(cli, ["stress", str(run.path), str(root), "--out", str(root / "st")]))
    assert f"The results folder '{root / 'st'}' lies inside the source folder '{root}'" in text
    monkeypatch.chdir(root)
    text = refused(CliRunner().invoke(cli, ["evaluate", str(run.path), "."]))
    assert "would be written to 'runs/' inside the source folder" in text
    assert listing(root) == before


# -- a folder trueclass cannot write -------------------------------------------------------
def test_an_out_under_a_file_is_refused(tmp_path, no_work):
    """A path whose parent is a regular file cannot be created by anyone, root included."""
    (tmp_path / "notes.txt").write_text("keep me")
    text = refused(CliRunner().invoke(cli, ["train", "digits", "--model", "knn", "--out",
                                            str(tmp_path / "notes.txt" / "run")]))
    assert f"trueclass cannot create the run folder '{tmp_path / 'notes.txt' / 'run'}'" in text
    assert f"'{tmp_path / 'notes.txt'}' is a file, not a folder" in text
    with pytest.raises(tc.TrueclassError, match="is a file, not a folder; choose out=FOLDER"):
        tc.train("digits", model="knn", out=tmp_path / "notes.txt" / "a" / "b")
    assert (tmp_path / "notes.txt").read_text() == "keep me" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def read_only(monkeypatch, *folders: Path) -> None:
    """os.access as a non-root user sees a read-only folder (root writes anywhere, so a
    chmod cannot stand for it in a suite run as root)."""
    real = os.access
    frozen = {f.resolve() for f in folders}
    monkeypatch.setattr(paths_mod.os, "access",
                        lambda p, mode, *a, **k: False if Path(p).resolve() in frozen and mode & os.W_OK
                        else real(p, mode, *a, **k))


def test_a_read_only_out_is_refused_before_any_work(tmp_path, monkeypatch, no_work):
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only(monkeypatch, locked)
    text = refused(CliRunner().invoke(cli, ["train", "digits", "--model", "knn", "--out", str(locked / "run")]))
    assert f"trueclass cannot write the run folder '{locked / 'run'}': '{locked}' is read-only" in text
    assert "choose --out FOLDER in a folder you can write" in text
    with pytest.raises(tc.TrueclassError, match="is read-only"):
        tc.train("digits", model="knn", out=locked)  # the empty folder itself
    assert list(locked.iterdir()) == []


def test_a_read_only_working_folder_is_refused_before_any_work(tmp_path, monkeypatch, no_work):
    monkeypatch.chdir(tmp_path)
    read_only(monkeypatch, tmp_path)
    text = refused(CliRunner().invoke(cli, ["train", "digits", "--model", "knn"]))
    assert (f"trueclass cannot write the default run folder 'runs/': the current folder '{tmp_path}' is "
            "read-only") in text
    assert "give --out FOLDER in a folder you can write" in text
    assert list(tmp_path.iterdir()) == []


def test_overwriting_a_run_in_a_read_only_folder_is_refused(tmp_path, monkeypatch):
    run = tc.train("digits", model="knn", audit=False, out=tmp_path / "box" / "run")
    before = listing(run.path)
    read_only(monkeypatch, tmp_path / "box")  # the run could not be removed and made again
    with pytest.raises(tc.TrueclassError, match="is read-only"):
        tc.train("digits", model="knn", out=run.path, overwrite=True)
    assert listing(run.path) == before


@pytest.mark.skipif(AS_ROOT, reason="root writes into a chmod 555 folder; the monkeypatched tests cover the "
                                    "refusal as root")
def test_a_chmod_read_only_folder_is_refused(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        text = refused(CliRunner().invoke(cli, ["train", "digits", "--model", "knn", "--out", str(locked / "run")]))
        assert "is read-only" in text and list(locked.iterdir()) == []
        monkeypatch.chdir(locked)
        text = refused(CliRunner().invoke(cli, ["train", "digits", "--model", "knn"]))
        assert "the current folder" in text and list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def _read_only_mount(folder: Path, command: str) -> subprocess.CompletedProcess | None:
    """``command`` run with ``folder`` bind-mounted read-only in a mount namespace of its
    own (root with CAP_SYS_ADMIN: a read-only disk, which root cannot write either);
    None where that cannot be made here."""
    if not AS_ROOT or shutil.which("unshare") is None:
        return None
    script = f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}' || exit 99; {command}"
    res = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=180)
    return None if res.returncode == 99 else res


def test_a_read_only_disk_is_refused_for_real(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    python = f"'{sys.executable}' -m trueclass.cli train digits --model knn"
    res = _read_only_mount(locked, f"{python} --out '{locked / 'run'}'; echo rc=$?; cd '{locked}' && {python}; "
                                   "echo rc=$?")
    if res is None:
        pytest.skip("no read-only mount can be made here (needs root and unshare); the monkeypatched tests cover "
                    "the refusal")
    assert res.stdout.count("rc=1") == 2, res.stdout + res.stderr
    assert f"trueclass cannot write the run folder '{locked / 'run'}': '{locked}' is read-only" in res.stderr
    assert f"the default run folder 'runs/': the current folder '{locked}' is read-only" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout and list(locked.iterdir()) == []


def test_a_folder_that_turns_read_only_after_the_check_is_still_a_sentence(tmp_path, monkeypatch):
    """The last guard: RunFolder.create turns an OSError into a sentence."""
    from trueclass.run.folder import RunFolder

    def no_mkdir(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", no_mkdir)
    with pytest.raises(tc.TrueclassError, match=r"cannot write the run folder .*\(Permission denied\); choose "
                                                r"out=FOLDER"):
        RunFolder.create(tmp_path / "run", "x")
    shutil.rmtree(tmp_path / "run", ignore_errors=True)


# -- the other commands' output places: predict --csv, audit, compare, explain -------------

@pytest.fixture(scope="module")
def knn_run(tmp_path_factory):
    return tc.train("digits", model="knn", audit=False, out=tmp_path_factory.mktemp("k") / "run")


def test_predict_audit_compare_and_explain_refuse_a_place_they_cannot_write_before_any_work(
        knn_run, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "a_folder").mkdir()
    img = tmp_path / "img.png"
    from PIL import Image

    Image.fromarray((knn_run.dataset.images[0, ..., 0] * 16).astype("uint8")).save(img)
    under_file, run = str(tmp_path / "notes.txt" / "x"), str(knn_run.path)
    cases = [
        (["predict", run, str(img), "--csv", under_file + ".csv"],
         "cannot create the folder of the predictions CSV", "choose --csv FILE in a folder you can write"),
        (["predict", run, str(img), "--csv", str(tmp_path / "a_folder")],
         "a_folder' is a folder; choose --csv FILE for the predictions CSV", "a_folder/predictions.csv'"),
        (["audit", "digits", "--no-label-issues", "--out", under_file],
         "cannot create the audit folder", "choose a folder for the audit in a folder you can write"),
        (["compare", run, run, "--out", under_file], "cannot create the comparison folder", "choose --out FOLDER"),
        (["explain", run, str(img), "--out", under_file], "cannot create the folder of the pictures",
         "choose --out FOLDER"),
        (["explain", run, "--out", str(tmp_path / "own")], "--out is where the pictures of the images named go",
         "Name image files to explain, or leave out --out"),
    ]
    import trueclass.checks as checks

    # the audit's refusal comes before the audit runs
    monkeypatch.setattr(checks, "audit", lambda *a, **k: (_ for _ in ()).throw(AssertionError("audited")))
    before = listing(tmp_path)
    for args, first, second in cases:
        text = refused(CliRunner().invoke(cli, args))
        assert first in text and second in text, (args, text)
    assert listing(tmp_path) == before  # nothing made, nothing changed
    with pytest.raises(tc.TrueclassError, match="choose csv_path=FILE in a folder"):
        tc.run.predict_to_csv(run, [img], tmp_path / "notes.txt" / "p.csv")
    with pytest.raises(tc.TrueclassError, match="cannot create the comparison folder"):
        tc.compare(run, run, out=under_file)


def test_a_place_that_refuses_a_real_write_is_refused_like_a_read_only_one(tmp_path, monkeypatch):
    """Root passes every permission check; a file system such as /sys refuses all the
    same, so the check makes (and removes) a folder there for real."""
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(tc.TrueclassError, match=f"cannot write the audit folder '{tmp_path / 'x'}': "
                                                f"'{tmp_path}' is read-only"):
        from trueclass.checks import audit_folder

        audit_folder(tmp_path / "x")
    monkeypatch.undo()
    folder_mod.check_writable(tmp_path / "y")  # a real folder passes, and the probe leaves nothing
    assert list(tmp_path.iterdir()) == []


def test_file_names_made_from_labels_keep_their_letters_and_never_climb():
    # regression: the misread images of class "café crème" were saved as "caf-cr-me"
    from trueclass.run.folder import safe_name

    assert safe_name("café crème") == "café-crème" and safe_name("日本") == "日本"
    assert [safe_name(t) for t in ("..", ".", "../x", ".hidden", "a/b")] == ["x", "x", "x", "hidden", "a-b"]
    assert safe_name("cafe\u0301") == "café"  # the accent as its own character (macOS file names): one letter
    assert len(safe_name("猫" * 200).encode()) <= 255


def test_export_and_card_refuse_a_read_only_run_folder_in_a_sentence(knn_run, tmp_path, monkeypatch):
    # both ended in an OSError traceback on a run folder shared or mounted read-only
    run = tmp_path / "run"
    shutil.copytree(knn_run.path, run)
    before = listing(run)
    read_only(monkeypatch, run)
    for args, what in ((["export", str(run)], "export"), (["card", str(run)], "card")):
        text = refused(CliRunner().invoke(cli, args))
        assert (f"The run folder '{run}' is read-only (or not yours to write), so trueclass cannot write its {what} "
                in text), text
        assert "copy the folder somewhere you can write" in text
    with pytest.raises(tc.TrueclassError, match="cannot write its export"):
        tc.export(run)
    with pytest.raises(tc.TrueclassError, match="cannot write its card"):
        tc.build_card(run)
    assert listing(run) == before
    monkeypatch.undo()
    python = f"'{sys.executable}' -m trueclass.cli"
    res = _read_only_mount(run, f"{python} card '{run}'; echo rc=$?; {python} export '{run}'; echo rc=$?")
    if res is not None:  # a read-only disk, for real (root, unshare)
        assert res.stdout.count("rc=1") == 2 and "Traceback" not in res.stderr, res.stdout + res.stderr
        assert res.stderr.count("is read-only (or not yours to write)") == 2, res.stderr
    assert listing(run) == before
