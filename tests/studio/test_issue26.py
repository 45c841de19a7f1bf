"""Issue 26 ("The classroom door"), items 7-9 through the API: a drawing is read in the
digits' own form, the model list is the registry's, a stale result is not shown, the
digits do not land silently in a project that has classes, nothing is deleted while a
model trains, and the page's warnings say each thing once."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from trueclass.studio import Project
from trueclass.studio._training import train_project

from .conftest import H, burst, make_client, wait_for_training


#: Strokes of a clearly drawn digit on the page's 280x280 canvas (white on black, 22 px).
STROKES = {
    "7": [[(70, 60), (210, 60), (120, 230)]],
    "1": [[(120, 80), (150, 50), (150, 235)]],
    "0": [[(140, 45), (85, 80), (75, 140), (90, 205), (140, 235), (190, 205), (205, 140), (195, 80), (140, 45)]],
}


def drawing(digit: str) -> bytes:
    im = Image.new("RGB", (280, 280), "black")
    g = ImageDraw.Draw(im)
    for line in STROKES[digit]:
        g.line(line, fill="white", width=22, joint="curve")
        for x, y in line:
            g.ellipse((x - 11, y - 11, x + 11, y + 11), fill="white")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_a_drawing_becomes_a_uci_digit():
    import trueclass as tc
    from trueclass.studio._drawing import drawing_as_training_image

    a = drawing_as_training_image(drawing("1"), (8, 8), 1)
    assert a.shape == (8, 8, 1) and a.dtype == np.uint8
    assert a.max() >= 12 * 255 // 16  # a block nearly full of ink, bright on dark
    ds = tc.load("digits")  # like the digits: the ink spans the height, centred
    rows = np.flatnonzero(a[..., 0].max(axis=1) > 0)
    assert rows[0] <= 1 and rows[-1] >= 6
    with pytest.raises(Exception, match="empty"):
        blank = io.BytesIO()
        Image.new("L", (280, 280), 0).save(blank, format="PNG")
        drawing_as_training_image(blank.getvalue(), (8, 8), 1)
    assert ds.value_max == 16


def test_a_stop_during_the_random_split_comparison_ends_with_the_finished_run(client):
    # the run was written (Preview had switched to its model) while the page went on showing the one before
    from trueclass.studio._training import TrainingStopped

    client.post("/api/builtin", json={"name": "digits", "per_class": 30}, headers=H)
    stages = []

    def stop_at_the_comparison(stage, done=0, total=0, **info):
        stages.append(stage)
        if stage.startswith("scoring a random split, for comparison: "):  # inside its training
            raise TrainingStopped

    result = train_project(Project(client.root), {"model": "logreg"}, stop_at_the_comparison)
    assert result["accuracy"] > 0.8 and "random_split" not in result
    assert any(s.startswith("scoring a random split, for comparison: ") for s in stages)


def test_the_random_split_comparison_scores_the_runs_own_images(client):
    # regression: it read the project again, so a class begun while the run trained failed the
    # finished run ("Class 'extra' has no images yet"), and images added meanwhile joined the
    # comparison's "same images"
    import json

    client.post("/api/builtin", json={"name": "digits", "per_class": 30}, headers=H)
    project = Project(client.root)

    def meanwhile(stage, done=0, total=0, **info):  # another student, while the run trains
        if stage == "scoring a random split, for comparison (the same training again)":
            buf = io.BytesIO()
            Image.fromarray(np.full((8, 8), 200, np.uint8)).save(buf, format="PNG")
            project.add_images("3", [("late.png", buf.getvalue())])
            project.add_class("extra")

    result = train_project(project, {"model": "logreg"}, meanwhile)
    run = client.root / ".trueclass" / "runs" / result["run"]
    ours, theirs = (json.loads((d / "metrics.json").read_text())["dataset"] for d in (run, run / "random-split"))
    assert theirs["hash"] == ours["hash"] and theirs["n_images"] == ours["n_images"] == 300
    assert result["random_split"]["n_train"] + result["random_split"]["n_test"] <= 300


def test_drawings_after_start_from_digits_are_read_as_drawn(client):
    r = client.post("/api/builtin", json={"name": "digits", "per_class": 30}, headers=H)
    assert r.status_code == 200 and r.json()["added"] == 300
    result = train_project(Project(client.root), {"model": "logreg"})
    assert result["accuracy"] > 0.8
    for digit in ("7", "1", "0"):
        p = client.post("/api/predict?kind=drawing", content=drawing(digit), headers=H).json()
        # (before: each "not sure (maybe 3)", the stroke shrunk to a faint 8x8 smudge)
        assert p["label"] == digit and p["confidence"] > 0.5, (digit, p)
    # a drawing added to a class is stored in the digits' form too: 8x8
    r = client.post("/api/images", data={"class": "7", "kind": "drawing"},
                    files=[("files", ("drawing.png", drawing("7"), "image/png"))], headers=H)
    added = r.json()["added"]
    assert len(added) == 1
    with Image.open(client.root / added[0]) as im:
        assert im.size == (8, 8)


def test_the_model_list_is_the_registrys_and_a_wrong_name_gets_a_sentence_for_the_page(client):
    from trueclass.models import list_models

    names = [m["name"] for m in client.get("/api/models").json()["models"]]
    assert names[0] == "auto" and "svc" not in names and "svm" in names
    assert set(names[1:]) == {n for n in list_models() if "<" not in n}
    r = client.post("/api/train", json={"model": "svc"}, headers=H)
    assert r.status_code == 400
    err = r.json()["error"]
    assert "no model 'svc'" in err and "Advanced" in err and "`trueclass" not in err
    html = client.get("/").text
    assert 'value="svc"' not in html  # the page has no list of its own


def test_delete_and_rename_are_refused_while_a_model_trains(client):
    client.post("/api/classes", json={"name": "cat"}, headers=H)
    client.app.state.trainer.state = {"status": "running", "stage": "training", "done": 0, "total": 0,
                                      "started": time.time()}
    r = client.post("/api/classes/delete", json={"name": "cat"}, headers=H)
    assert r.status_code == 400 and "training is running" in r.json()["error"]
    r = client.post("/api/classes/rename", json={"old": "cat", "new": "dog"}, headers=H)
    assert r.status_code == 400 and "training is running" in r.json()["error"]
    for path, body, what in (("/api/images/move", {"file": "cat/x.png", "to": "cat"}, "move an image"),
                             ("/api/images/remove", {"file": "cat/x.png"}, "remove an image"),
                             ("/api/classes/restore", {"id": "cat-1"}, "restore a class")):
        r = client.post(path, json=body, headers=H)  # the images a training reads stay as they are
        assert r.status_code == 400 and r.json()["error"] == (
            f"A training is running on this project's images; {what} once it has finished."), path
    assert (client.root / "cat").is_dir()
    client.app.state.trainer.state = {"status": "idle"}
    assert client.post("/api/classes/delete", json={"name": "cat"}, headers=H).status_code == 200


def test_start_from_digits_asks_before_adding_to_a_project_with_classes(client):
    client.post("/api/classes", json={"name": "cat"}, headers=H)
    r = client.post("/api/builtin", json={"name": "digits", "per_class": 2}, headers=H)
    assert r.status_code == 400 and "already has classes ('cat')" in r.json()["error"]
    assert [c["name"] for c in client.get("/api/project").json()["classes"]] == ["cat"]
    r = client.post("/api/builtin", json={"name": "digits", "per_class": 2, "beside_classes": True}, headers=H)
    assert r.status_code == 200 and "beside the 1 classes" in r.json()["message"]
    assert len(client.get("/api/project").json()["classes"]) == 11
    r = client.post("/api/builtin", json={"name": "digits", "per_class": 2}, headers=H)  # into 0-9, said so
    assert r.status_code == 400 and r.json()["error"] == (
        "This project already has classes ('cat', '0', '1', '2', '3', '4' and 5 more); the digits would go into its "
        "classes 0, 1, 2, 3, 4, 5, 6, 7, 8, 9. Start the digits in an empty project, or confirm to add them.")
    r = client.post("/api/builtin", json={"name": "digits", "per_class": 3, "beside_classes": True}, headers=H)
    assert "(into the classes of those names already here)" in r.json()["message"]
    # the two of each digit already here are not added again, and the page says so
    assert r.json()["message"].endswith("20 more were in the project already and were not added again.")
    assert [c["count"] for c in client.get("/api/project").json()["classes"]][1:] == [3] * 10


def two_classes_of_two_bursts(client) -> None:
    for name in ("astronaut", "cat"):
        client.post("/api/classes", json={"name": name}, headers=H)
        for s in range(2):
            client.post("/api/images", data={"class": name, "kind": "webcam"},
                        files=[("files", (f"f{i}.jpg", b, "image/jpeg")) for i, b in enumerate(burst(name, s, 6))],
                        headers=H)


def test_after_a_restart_the_result_of_deleted_classes_is_not_shown(client, tmp_path):
    two_classes_of_two_bursts(client)
    assert client.post("/api/train", json={"model": "logreg"}, headers=H).status_code == 200
    assert wait_for_training(client, timeout=300)["status"] == "done"
    # a restart: the last run is shown again while its classes are the project's
    c2, _ = make_client(client.root)
    with c2:
        assert c2.get("/api/project").json()["last_result"]["classes"] == ["astronaut", "cat"]
        assert c2.post("/api/predict", content=burst("cat", 0, 1)[0], headers=H).json()["label"] in ("astronaut", "cat")
        # a renamed class: the preview says so (it read the old names after a rename)
        assert c2.post("/api/classes/rename", json={"old": "cat", "new": "kitten"}, headers=H).status_code == 200
        r = c2.post("/api/predict", content=burst("cat", 0, 1)[0], headers=H)
        assert r.status_code == 400 and r.json()["error"] == (
            "The classes changed since the last training (the model knows astronaut, cat; the project now has "
            "astronaut, kitten): train again to preview.")
        stale = c2.get("/api/project").json()["last_result"]  # kept, and says why it is greyed
        assert stale["stale"] == ("This result is of the classes before they changed ('cat' no longer here; 'kitten' "
                                  "not trained on); train again for a result of the classes as they are.")
        assert c2.post("/api/classes/rename", json={"old": "kitten", "new": "cat"}, headers=H).status_code == 200
        assert "stale" not in c2.get("/api/project").json()["last_result"]
        for name in ("astronaut", "cat"):
            assert c2.post("/api/classes/delete", json={"name": name}, headers=H).status_code == 200
        state = c2.get("/api/project").json()
        assert state["last_result"] is None  # no class in common: not the evaluation of classes that are gone
    c3, _ = make_client(client.root)
    with c3:
        assert c3.get("/api/project").json().get("last_result") is None


def test_the_few_test_images_warning_is_said_once_for_all_its_classes():
    from trueclass.studio._training import page_warnings

    ws = [{"kind": "few_test_images", "class": str(k), "n": 6,
           "message": f"Class '{k}' has only 6 test images; fewer than 30 make its scores unreliable."}
          for k in range(10)]
    ws.append({"kind": "imbalance", "message": "Strong imbalance.", "largest": "cat", "smallest": "dog", "ratio": 4.0})
    out = page_warnings(ws)
    assert len(out) == 2 and out[1] == (  # no class_weight="balanced", a setting the page does not have
        "Strong imbalance: 'cat' has 4.0 times the training images of 'dog', and a model leans toward what it saw "
        "most. Look at each class's row of the confusion matrix rather than the accuracy; more images of 'dog' may "
        "help.")
    assert out[0].startswith("Classes '0', '1'") and "only 6 test images each" in out[0]
    # the card says it once too, in its warnings and its limitations (it said it ten times in each)
    from trueclass.report._card import card_data

    m = {"accuracy": 1.0, "accuracy_ci": [0.9, 1.0], "n_test": 60, "n_wrong": 0, "warnings": ws}
    data = card_data(m, None)
    assert data["warnings"][0] == out[0] and data["warnings"][1] == "Strong imbalance."  # the card's own words
    assert data["model_card"]["limitations"][-2:] == data["warnings"]


def test_the_stop_button_stops_a_training_and_the_next_one_starts(client):
    # 500 epochs typed in was an hour with no way out but closing the studio
    two_classes_of_two_bursts(client)
    r = client.post("/api/train/stop", json={}, headers=H)
    assert r.status_code == 400 and r.json()["error"] == "No training is running."
    assert client.post("/api/train", json={"model": "cnn", "epochs": 200}, headers=H).status_code == 200
    assert client.post("/api/train/stop", json={}, headers=H).status_code == 200
    st = wait_for_training(client, timeout=120)
    assert st["status"] == "failed" and st["message"] == "Stopped before the training finished. Train again when ready."
    # the next one is not stopped at once: it runs until asked again
    assert client.post("/api/train", json={"model": "cnn", "epochs": 200}, headers=H).status_code == 200
    time.sleep(3)
    assert client.get("/api/project").json()["training"]["status"] == "running"
    assert client.post("/api/train/stop", json={}, headers=H).status_code == 200
    assert wait_for_training(client, timeout=120)["status"] == "failed"

