"""The studio in a real browser (Debian's chromium through Playwright, a fake camera):
create classes, upload, hold to record, draw, train, read the accuracy, open the card,
preview; restart the server and find the project intact. Screenshots go to test-output/."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time

import pytest

from browser_tools import OUTPUT, chromium_path, open_page, playwright
from trueclass.studio import Project, create_app

from .conftest import burst

pytestmark = pytest.mark.slow  # drives a real browser and trains


@contextlib.contextmanager
def studio_server(root):
    import uvicorn

    app = create_app(Project(root))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    t = time.time()
    while not server.started and time.time() - t < 20:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(10)


def count_of(page, name):
    return page.locator(f'.class-card[data-name="{name}"] .count')


def counts(page):
    return {c.get_attribute("data-name"): c.locator(".count").inner_text() for c in page.locator(".class-card").all()}


def test_from_an_empty_project_to_an_honest_evaluation_in_the_browser(tmp_path):
    exe = chromium_path()
    sync_playwright = playwright()
    from playwright.sync_api import expect

    OUTPUT.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "proj"
    files = {}
    for name in ("cat", "coffee"):
        for s in range(3):
            folder = tmp_path / "frames" / f"{name}{s}"
            folder.mkdir(parents=True)
            files[name, s] = []
            for i, b in enumerate(burst(name, s, 8)):
                (folder / f"{i}.jpg").write_bytes(b)
                files[name, s].append(str(folder / f"{i}.jpg"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.grant_permissions(["camera"])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        missing: list[str] = []  # a file the page asks for and the studio lacks (the favicon was one)
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        with studio_server(root) as url:
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#classes .hint")
            load_seconds = time.perf_counter() - t
            for name in ("cat", "coffee"):
                page.fill("#new-class", name)
                page.click("#add-class")
                page.wait_for_selector(f'.class-card[data-name="{name}"]')
            # a hostile name gets its sentence on the page
            page.fill("#new-class", "../escape")
            page.click("#add-class")
            page.wait_for_selector('.message[data-slot="classes"].error')  # next to the form that caused it
            assert "A class name is 1 to 40 letters" in page.inner_text('.message[data-slot="classes"]')
            for (name, s), paths in files.items():  # three upload batches a class: three sessions
                page.set_input_files(f'.class-card[data-name="{name}"] input[type=file]', paths)
                expect(count_of(page, name)).to_have_text(re.compile(f"^{8 * (s + 1)} images"))
            # hold to record: the fake camera's frames, one session
            rec = page.locator('.class-card[data-name="cat"] .record')
            rec.hover()
            page.mouse.down()
            page.wait_for_timeout(1500)
            page.mouse.up()
            expect(count_of(page, "cat")).to_contain_text("4 sessions", timeout=20_000)
            assert not page.locator("#camera").is_hidden()
            # draw a stroke and add it to coffee
            box = page.locator("#draw-canvas").bounding_box()
            page.mouse.move(box["x"] + 60, box["y"] + 40)
            page.mouse.down()
            for k in range(10):
                page.mouse.move(box["x"] + 60 + 8 * k, box["y"] + 40 + 12 * k)
            page.mouse.up()
            page.select_option("#draw-class", "coffee")
            page.click("#add-drawing")
            expect(count_of(page, "coffee")).to_have_text(re.compile("^25 images"))
            page.screenshot(path=str(OUTPUT / "studio-1-classes.png"), full_page=True)
            before = counts(page)
            # train with one button
            page.click("#train")
            page.wait_for_selector("#results:not([hidden])", timeout=240_000)
            run = sorted((root / ".trueclass" / "runs").glob("2*"))[-1]
            m = json.loads((run / "metrics.json").read_text())
            acc_text = page.inner_text("#accuracy")
            assert acc_text.startswith(f"{100 * m['accuracy']:.1f}%"), (acc_text, m["accuracy"])
            detail = page.inner_text("#accuracy-detail")
            assert f"{m['n_wrong']} wrong of {m['n_test']} test images" in detail
            assert "capture sessions kept apart" in detail and m["split"]["by_capture_session"]
            assert page.locator("#confusion tr").count() == 3
            page.screenshot(path=str(OUTPUT / "studio-2-results.png"), full_page=True)
            # the full evidence card, one click away
            with context.expect_page() as card_info:
                page.click("#card-link")
            card = card_info.value
            card.wait_for_load_state()
            assert "trueclass" in card.content().lower()
            # no command line in a classroom: the card's hints to it are hidden here, shown elsewhere
            hint = card.get_by_text("--repeats 5")
            expect(hint).to_be_hidden()
            card.goto(card.url.split("?")[0])
            expect(card.get_by_text("--repeats 5")).to_be_visible()
            card.screenshot(path=str(OUTPUT / "studio-card.png"))
            card.close()
            # preview an uploaded image
            page.set_input_files("#preview-file", files["coffee", 0][0])
            page.wait_for_selector("#preview-bars .bar")
            assert page.locator("#preview-bars .bar").count() == 2
            assert page.inner_text("#preview-label").strip()
            page.screenshot(path=str(OUTPUT / "studio-3-preview.png"), full_page=True)
        # a restart finds the project as it was
        with studio_server(root) as url2:
            page.goto(url2)
            page.wait_for_selector('.class-card[data-name="coffee"]')
            assert counts(page) == before
            page.wait_for_selector("#results:not([hidden])")  # the last run's evidence is shown again
            # a second training: the result on screen is the previous one, greyed and said so, until it ends
            page.click("#advanced summary")
            page.select_option("#model", "logreg")
            page.click("#train")
            expect(page.locator("#previous-note")).to_be_visible()
            assert "previous" in page.get_attribute("#results", "class")
            expect(page.locator("#previous-note")).to_be_hidden(timeout=240_000)
            assert "previous" not in (page.get_attribute("#results", "class") or "")
            assert page.inner_text("#accuracy-detail").endswith(")."), page.inner_text("#accuracy-detail")
            assert "model logreg" in page.inner_text("#accuracy-detail")
            # Stop during a third training: the last result stays on screen (Preview still uses its model)
            page.select_option("#model", "cnn")
            page.fill("#epochs", "200")
            page.click("#train")
            after_epoch_1 = re.compile(r"epoch ([2-9]|\d\d+)/200")  # a checkpoint is kept from there on
            stopped = re.compile(r"^Training stopped during epoch \d+ of 200\. What it had done is kept: Go on from "
                                 r"there, or Train anew\.$")
            expect(page.locator("#stage")).to_contain_text(after_epoch_1, timeout=120_000)
            page.click("#stop-training")
            expect(page.locator('.message[data-slot="train"]')).to_have_text(stopped, timeout=60_000)
            expect(page.locator("#results")).to_be_visible()
            assert "model logreg" in page.inner_text("#accuracy-detail")
            # it goes on from its last epoch, and can be stopped again
            page.click("#resume-training")
            expect(page.locator("#resume-training")).to_be_hidden()
            expect(page.locator("#stage")).to_contain_text(after_epoch_1, timeout=120_000)
            page.click("#stop-training")
            expect(page.locator('.message[data-slot="train"]')).to_have_text(stopped, timeout=60_000)
            expect(page.locator("#resume-training")).to_be_visible()
            page.fill("#epochs", "")
            # a rename's sentence lands on the renamed class's card; the result stays, greyed, and says why
            page.once("dialog", lambda d: d.accept("espresso"))
            page.click('.class-card[data-name="coffee"] .rename')
            msg = page.locator('.class-card[data-name="espresso"] .message')
            expect(msg).to_have_text("Renamed 'coffee' to 'espresso'.")
            expect(page.locator("#previous-note")).to_have_text(
                "This result is of the classes before they changed ('coffee' no longer here; 'espresso' not trained on); "
                "train again for a result of the classes as they are.")
            assert "previous" in page.get_attribute("#results", "class")
            # a class deleted by mistake comes back, in its place, with its images
            cat_count = page.inner_text('.class-card[data-name="cat"] .count')
            page.once("dialog", lambda d: d.accept())
            page.click('.class-card[data-name="cat"] .delete')
            expect(page.locator('.class-card[data-name="cat"]')).to_have_count(0)
            page.click(".deleted-class .restore")
            expect(page.locator('.message[data-slot="classes"]')).to_have_text("Restored 'cat'.")
            assert page.inner_text('.class-card[data-name="cat"] .count') == cat_count
            assert page.locator(".class-card").first.get_attribute("data-name") == "cat"
            assert page.locator(".deleted-class").count() == 0
        # started again, the studio offers the stopped training's Go on, with its sentence
        with studio_server(root) as url3:
            page.goto(url3)
            expect(page.locator("#resume-training")).to_be_visible()
            expect(page.locator('.message[data-slot="train"]')).to_have_text(
                "The last training stopped before it finished. What it had done is kept: Go on from there, or "
                "Train anew.")
        browser.close()
    assert not errors, errors
    assert not missing, missing
    assert load_seconds < 5  # a generous bound; the page-load figure is measured in benchmarks/studio_load.py


def test_webcam_sessions_train_and_the_live_preview_is_live(tmp_path):
    """Issue 26: two classes, two hold-to-record sessions each from Chromium's fake camera,
    train: whole sessions on each side, never "no images to train on"; the model list is
    the registry's; a message shows beside its button; Delete is off while training; the
    live preview plays in the Preview panel with the top of the page scrolled away."""
    exe = chromium_path()
    sync_playwright = playwright()
    from playwright.sync_api import expect

    from trueclass.models import get_spec, list_models

    OUTPUT.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "proj"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.grant_permissions(["camera"])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: d.accept())
        with studio_server(root) as url:
            page.goto(url)
            page.wait_for_selector("#classes .hint")
            options = page.locator("#model option").evaluate_all("os => os.map(o => o.value)")
            assert options[0] == "auto" and "svc" not in options
            assert set(options[1:]) == {n for n in list_models() if "<" not in n}
            # Train with no classes: the sentence appears beside the Train button, in view
            page.click("#train")
            msg = page.locator('.message[data-slot="train"].error')
            expect(msg).to_be_visible()
            assert msg.is_visible() and msg.evaluate("e => e.getBoundingClientRect().bottom <= innerHeight")
            for name in ("thumbs up", "thumbs down"):
                page.fill("#new-class", name)
                page.click("#add-class")
                page.wait_for_selector(f'.class-card[data-name="{name}"]')
                for s in range(2):
                    rec = page.locator(f'.class-card[data-name="{name}"] .record')
                    rec.hover()
                    page.mouse.down()
                    page.wait_for_timeout(1300)
                    page.mouse.up()
                    expect(count_of(page, name)).to_contain_text(f"{s + 1} session", timeout=20_000)
            page.click("#advanced summary")
            # each model's description in full below the list (a closed list cut it at 24em)
            page.select_option("#model", "lite0")
            expect(page.locator("#model-about")).to_have_text(get_spec("lite0").description)
            page.select_option("#model", "auto")  # lite0 on webcam frames, as a class would get
            expect(page.locator("#model-about")).to_have_text("chosen from the images")
            page.click("#train")
            expect(page.locator(".class-card .delete").first).to_be_disabled()  # not while training
            train_msg = page.locator('.message[data-slot="train"]')
            expect(train_msg).not_to_have_text("Training...", timeout=240_000)
            assert "Done in" in train_msg.inner_text(), train_msg.inner_text()
            page.wait_for_selector("#results:not([hidden])")
            run = sorted((root / ".trueclass" / "runs").glob("2*"))[-1]
            m = json.loads((run / "metrics.json").read_text())
            assert m["split"]["by_capture_session"] and m["split"]["images_moved_to_keep_duplicates_together"] == 0
            n = m["n_train"] + m["n_test"] + m.get("n_val", 0)
            assert m["n_train"] >= n // 4 and m["n_test"] >= 2, m["split"]
            expect(page.locator('.message[data-slot="train"]')).to_contain_text("Done in")
            assert not page.locator(".class-card .delete").first.is_disabled()
            page.screenshot(path=str(OUTPUT / "studio-webcam-results.png"), full_page=True)
            # live preview: its own video in the Preview panel, playing, with the top video scrolled away
            page.click("#preview-camera")
            page.locator("#preview-section").scroll_into_view_if_needed()
            video = page.locator("#preview-video")
            expect(video).to_be_visible()
            page.wait_for_selector("#preview-bars .bar", timeout=30_000)
            t0 = video.evaluate("v => v.currentTime")
            page.wait_for_timeout(1500)
            assert not video.evaluate("v => v.paused")
            assert video.evaluate("v => v.currentTime") > t0 + 0.5
            assert video.evaluate("v => v.videoWidth") > 0
            page.screenshot(path=str(OUTPUT / "studio-webcam-live-preview.png"))
            page.click("#preview-camera")
            # Start from digits in a project with classes asks first (the dialog is accepted here)
            page.click("#builtin")
            expect(page.locator('.message[data-slot="classes"]')).to_contain_text("beside the 2 classes",
                                                                                   timeout=60_000)
            page.wait_for_selector('.class-card[data-name="7"]')
            # the old result is of other classes now: greyed, and it says so
            expect(page.locator("#previous-note")).to_contain_text("This result is of the classes before they changed")
            assert "previous" in page.get_attribute("#results", "class")
            page.screenshot(path=str(OUTPUT / "studio-webcam-digits.png"), full_page=True)
        browser.close()
    assert not errors, errors


def test_drawings_after_start_from_digits_are_read_as_drawn_in_the_browser(tmp_path):
    """Issue 26 item 7: after "Start from digits", a 7, a 1 and a 0 drawn with the mouse on
    the page's canvas are read as drawn (before: each "not sure (maybe 3)")."""
    from .test_issue26 import STROKES

    sync_playwright = playwright()
    from playwright.sync_api import expect

    with sync_playwright() as p:
        browser, _, page, errors = open_page(p, width=1280, height=900)
        with studio_server(tmp_path / "proj") as url:
            page.goto(url)
            page.click("#train")  # nothing to train on: a sentence, gone once the project has images
            train_note = page.locator('.message[data-slot="train"]')
            expect(train_note).to_contain_text("There is nothing to train on yet")
            page.click("#builtin")
            page.wait_for_selector('.class-card[data-name="7"]', timeout=60_000)
            expect(train_note).to_have_text("")
            page.click("#advanced summary")
            page.select_option("#model", "logreg")
            page.click("#train")
            page.wait_for_selector("#results:not([hidden])", timeout=240_000)
            # 150 a digit: a fifth of each class tested, 30 test images a digit (30 gave 6, and often no mistake)
            assert "of 300 test images" in page.inner_text("#accuracy-detail")
            # Preview right under Train's last line, however long the class list beside them (Train's box
            # stretched to the list's height and pushed Preview out of sight)
            content_end, preview_top = page.evaluate("""[Math.max(...[...document.querySelectorAll('#train-section > *')]
                .filter((e) => !e.hidden).map((e) => e.getBoundingClientRect().bottom)),
                document.querySelector('#preview-section').getBoundingClientRect().top]""")
            assert preview_top - content_end < 60, (content_end, preview_top)
            # the page settles first (the last poll's refresh, the thumbnails): in one full-suite
            # run of four a drawn 7 was read "not sure (maybe 2)"; a layout that moved under the
            # strokes is the suspect, not proven
            page.wait_for_load_state("networkidle")
            canvas = page.locator("#draw-canvas")
            for digit in ("7", "1", "0"):
                page.click("#clear-drawing")
                canvas.scroll_into_view_if_needed()  # the mouse draws where the canvas is on screen, now
                box = canvas.bounding_box()
                scale = box["width"] / 280  # the strokes are in the canvas's own 280 x 280 pixels
                for line in STROKES[digit]:
                    points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in line]
                    page.mouse.move(*points[0])
                    page.mouse.down()
                    for (x0, y0), (x1, y1) in zip(points, points[1:]):
                        for t in range(1, 9):  # a stroke as the mouse makes it: many small moves
                            page.mouse.move(x0 + (x1 - x0) * t / 8, y0 + (y1 - y0) * t / 8)
                    page.mouse.up()
                page.click("#preview-drawing")
                said = page.locator('.message[data-slot="draw"]')
                expect(said).to_contain_text("Read as", timeout=30_000)  # else the page's sentence shows why
                expect(page.locator("#preview-label")).to_contain_text(digit)
                # read as drawn (before: "not sure (maybe 3)"); "not sure" stays for an answer below the
                # review threshold or a drawing unlike the training digits, and then the page says why
                label = page.inner_text("#preview-label")
                assert label in (digit, f"not sure (maybe {digit})"), (digit, label)
                said = page.inner_text('.message[data-slot="draw"]')
                assert said.startswith(f"Read as {label}: see Preview."), said
                page.screenshot(path=str(OUTPUT / f"studio-drawing-{digit}.png"))
            # what the command line prints of the audit is on the page too
            m = json.loads(sorted((tmp_path / "proj" / ".trueclass" / "runs").glob("2*/metrics.json"))[-1].read_text())
            expect(page.locator("#audit-text")).to_contain_text(
                f"Audit: {m['audit']['n_duplicate_groups']} duplicate group")
            # a label flag put right from the page: the image is filed where it looks like it belongs
            flag = m["audit"]["label_issues"][0]
            first = page.locator("#label-issues .misread").first
            expect(first.locator("button").first).to_have_text(f"Move to {flag['suggested']}")
            first.locator("button").first.click()
            said = page.locator('.message[data-slot="labels"]')
            expect(said).to_have_text(f"Moved it to '{flag['suggested']}'. Train again to see the change. Undo")
            entries = json.loads((tmp_path / "proj" / "trueclass-project.json").read_text())["images"]
            assert [e["class"] for e in entries if e["file"].endswith(flag["id"].split("/", 1)[1])] == [flag["suggested"]]
            expect(page.locator(f'#label-issues img[alt="{flag["id"]}"]')).to_have_count(0)
            said.locator("button.undo").click()  # a click too many is one click away from undone
            expect(said).to_have_text(f"Moved it back to '{flag['given']}'.")
            expect(page.locator(f'#label-issues img[alt="{flag["id"]}"]')).to_have_count(1)
            # a file the server would refuse for its size is named and left out; the rest is added
            big = tmp_path / "huge.png"
            with open(big, "wb") as f:
                f.truncate(21 * 1024**2)
            small = tmp_path / "seven.png"
            small.write_bytes(burst("cat", 0, 1)[0])
            page.set_input_files('.class-card[data-name="7"] input[type=file]', [str(big), str(small)])
            said = page.locator('.message[data-slot="class:7"]')
            expect(said).to_contain_text("Added 1 image to '7'. Refused: huge.png is 21 MB; an image may be at most "
                                         "20 MB.", timeout=20_000)
            assert "error" not in (said.get_attribute("class") or "")  # not red: something was added
            # a preview that fails leaves no bars of the image before under its message
            bad = tmp_path / "notes.png"
            bad.write_text("not an image")
            page.set_input_files("#preview-file", str(bad))
            expect(page.locator('.message[data-slot="preview"]')).to_contain_text("not an image", timeout=20_000)
            assert page.inner_text("#preview-label") == "" and page.locator("#preview-bars .bar").count() == 0
        browser.close()
    assert not errors, errors


def test_an_odd_image_is_removed_from_the_results_in_the_browser(tmp_path):
    """A blank frame the audit calls odd gets a Remove under its thumbnail: the page says
    so, the project forgets it and the trash keeps its file."""
    import io

    import numpy as np
    from PIL import Image

    from trueclass.studio._app import add_builtin

    sync_playwright = playwright()
    from playwright.sync_api import expect

    root = tmp_path / "proj"
    project = Project(root)
    add_builtin(project, "digits", 40)
    for name in ("0", "1", "2", "3", "4", "5", "6", "7"):
        project.delete_class(name)  # two digits are enough
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(buf, format="PNG")
    blank = project.add_images("8", [("blank.png", buf.getvalue())])["added"][0]
    with sync_playwright() as p:
        browser, _, page, errors = open_page(p, width=1280, height=900)
        with studio_server(root) as url:
            page.goto(url)
            page.click("#advanced summary")
            page.select_option("#model", "logreg")
            page.click("#train")
            page.wait_for_selector("#results:not([hidden])", timeout=240_000)
            odd = page.locator(f'#odd-images .misread:has(img[alt="{blank}"])')
            expect(odd).to_contain_text("nearly blank")
            odd.locator("button").click()
            said = page.locator('.message[data-slot="odd"]')
            expect(said).to_have_text("Removed it; its file is kept in the project's trash. Train again to see the "
                                      "change. Undo")
            expect(page.locator(f'#odd-images img[alt="{blank}"]')).to_have_count(0)
            assert blank not in Project(root).image_files() and not (root / blank).exists()
            assert len(list((root / ".trueclass" / "trash").glob(f"images-*/{blank}"))) == 1
            said.locator("button.undo").click()
            expect(said).to_have_text("Put it back.")
            expect(page.locator(f'#odd-images img[alt="{blank}"]')).to_have_count(1)
            page.reload()  # the model chosen stays chosen, and Advanced shows it (it went back to auto)
            expect(page.locator("#model")).to_have_value("logreg")
            assert page.locator("#advanced").get_attribute("open") is not None
        browser.close()
    assert not errors, errors
    assert blank in Project(root).image_files() and (root / blank).is_file()


def test_a_classroom_upload_and_a_second_tab_in_the_browser(tmp_path, monkeypatch):
    """Found by a walk-through with a class's worth of images: more files at once than one
    request may carry were refused whole; the same files again were added again without a
    word; a second tab that pressed Train while the first tab's training ran stayed with Train
    disabled and no end until reloaded."""
    from trueclass.studio import _app, _training

    monkeypatch.setattr(_app, "MAX_FILES_PER_REQUEST", 5)  # the page reads it: 12 files go in 3 parts
    # the first tab's training waits until the second tab has pressed Train (however fast it would be)
    go = threading.Event()
    real_train = _training.train_project

    def held_train(*args, **kwargs):
        assert go.wait(120)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(_training, "train_project", held_train)
    sync_playwright = playwright()
    from playwright.sync_api import expect

    frames = tmp_path / "frames"
    frames.mkdir()
    paths = []
    for s in range(3):
        for i, b in enumerate(burst("cat", s, 6)):
            (frames / f"s{s}-{i}.jpg").write_bytes(b)
            paths.append(str(frames / f"s{s}-{i}.jpg"))
    paths, later = paths[:12], paths[12:]
    with sync_playwright() as p:
        browser, context, page, errors = open_page(p, width=1280, height=900)
        with studio_server(tmp_path / "proj") as url:
            page.goto(url)
            page.fill("#new-class", "cat")
            page.click("#add-class")
            card_input = '.class-card[data-name="cat"] input[type=file]'
            page.set_input_files(card_input, paths)
            note = page.locator('.message[data-slot="class:cat"]')
            expect(note).to_have_text("Added 12 images to 'cat'.", timeout=30_000)
            # one upload, one capture session, however many parts carried it
            expect(count_of(page, "cat")).to_have_text(re.compile("^12 images, 1 session"))
            page.set_input_files(card_input, paths[:2])  # a second student's copy of the same files
            expect(note).to_contain_text("Added 0 images to 'cat'. 2 images were in the project already and not "
                                         "added again (s0-0.jpg is cat/")
            expect(count_of(page, "cat")).to_have_text(re.compile("^12 images"))
            page.set_input_files(card_input, later)  # another student's burst: a second session (5 + 1 files)
            expect(count_of(page, "cat")).to_have_text(re.compile("^18 images, 2 sessions"))
            page.on("dialog", lambda d: d.accept())  # yes, the digits beside 'cat'
            page.click("#builtin")  # and the digits beside it, for a training of seconds
            page.wait_for_selector('.class-card[data-name="7"]', timeout=60_000)
            page.click("#advanced summary")
            page.select_option("#model", "logreg")
            other = context.new_page()
            other.on("pageerror", lambda e: errors.append(str(e)))
            other.goto(url)
            other.wait_for_selector('.class-card[data-name="7"]')
            page.click("#train")
            expect(page.locator("#progress-box")).to_be_visible()
            other.click("#train")  # refused while the first one runs: this tab follows it to the end
            expect(other.locator('.message[data-slot="train"]')).to_contain_text("already running")
            expect(other.locator("#progress-box")).to_be_visible()
            go.set()
            for tab in (page, other):
                tab.wait_for_selector("#results:not([hidden])", timeout=240_000)
                expect(tab.locator("#train")).to_be_enabled(timeout=240_000)
            assert other.inner_text("#accuracy") == page.inner_text("#accuracy")
        browser.close()
    assert not errors, errors
