"""The evidence card in a real browser: headless Chromium (Debian's chromium) driven by
Playwright. Clicking a confusion cell shows exactly that cell's images, the toggle
switches to row shares, the per-class table sorts, and a screenshot is kept."""

from __future__ import annotations

import csv

import pytest

import trueclass as tc

from browser_tools import OUTPUT, chromium_path, open_page, playwright

pytestmark = pytest.mark.slow  # drives a real browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    chromium_path()  # skipped (or failed, in CI) before any work where there is none
    sync_playwright = playwright()
    run = tc.train("digits", model="logreg", val_size=0.1, out=tmp_path_factory.mktemp("browser") / "run")
    with sync_playwright() as p:
        browser, _, pg, errors = open_page(p, width=1100, height=900)
        pg.goto((run.path / "card.html").resolve().as_uri())
        yield pg, run, errors
        browser.close()


def gallery(pg):
    return [{k: img.get_attribute(f"data-{k}") for k in ("true", "pred", "id")}
            for img in pg.locator("#cell-gallery img").all()]


def test_clicking_a_mistake_cell_shows_exactly_its_images(page):
    pg, run, errors = page
    preds = list(csv.DictReader(open(run.path / "predictions.csv")))
    top = run.metrics["most_confused"][0]
    cell = pg.locator(f'td.cm[data-true="{top["true"]}"][data-pred="{top["pred"]}"]')
    assert cell.get_attribute("data-count") == str(top["count"])
    cell.click()
    shown = gallery(pg)
    expected = {r["id"] for r in preds if r["true"] == top["true"] and r["pred"] == top["pred"]}
    assert {g["id"] for g in shown} == expected and len(shown) == top["count"]
    assert all(g["true"] == top["true"] and g["pred"] == top["pred"] for g in shown)
    assert pg.inner_text("#cell-title").endswith(f"{top['count']} test image{'s' if top['count'] != 1 else ''}")
    assert errors == []


def test_a_diagonal_cell_shows_right_answers_of_that_class(page):
    pg, run, _ = page
    name = run.metrics["classes"][0]
    cell = pg.locator(f'td.cm[data-true="{name}"][data-pred="{name}"]')
    cell.focus()
    pg.keyboard.press("Enter")  # reachable without a mouse
    shown = gallery(pg)
    assert shown and all(g["true"] == g["pred"] == name for g in shown)
    assert len(shown) <= int(cell.get_attribute("data-count"))


def test_an_empty_cell_shows_no_images(page):
    pg, run, _ = page
    cm, classes = run.metrics["confusion_matrix"], run.metrics["classes"]
    i, j = next((i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i][j] == 0)
    pg.locator(f'td.cm[data-true="{classes[i]}"][data-pred="{classes[j]}"]').click()
    assert gallery(pg) == [] and pg.inner_text("#cell-title").endswith("0 test images")


def test_toggle_switches_counts_and_row_shares(page):
    pg, run, _ = page
    name = run.metrics["classes"][0]
    cell = pg.locator(f'td.cm[data-true="{name}"][data-pred="{name}"]')
    assert cell.inner_text() == str(run.metrics["confusion_matrix"][0][0])
    pg.click("#toggle-norm")
    assert pg.get_attribute("#toggle-norm", "aria-pressed") == "true"
    assert cell.inner_text() == f"{run.metrics['confusion_matrix_normalized'][0][0]:.2f}"
    pg.click("#toggle-norm")
    assert cell.inner_text() == str(run.metrics["confusion_matrix"][0][0])


def test_per_class_table_sorts(page):
    pg, run, _ = page

    def recalls():
        return [float(v) for v in pg.locator("#per-class tbody tr td:nth-child(3)").evaluate_all(
            "tds => tds.map(td => td.dataset.value)")]

    pg.click('#per-class th[data-key="recall"] button')
    assert recalls() == sorted(r["recall"] for r in run.metrics["per_class"].values())
    assert pg.get_attribute('#per-class th[data-key="recall"]', "aria-sort") == "ascending"
    pg.click('#per-class th[data-key="recall"] button')
    assert recalls() == sorted((r["recall"] for r in run.metrics["per_class"].values()), reverse=True)


def test_screenshot_is_kept(page):
    pg, run, errors = page
    top = run.metrics["most_confused"][0]
    pg.locator(f'td.cm[data-true="{top["true"]}"][data-pred="{top["pred"]}"]').click()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "evidence-card.png"
    pg.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    assert errors == []
