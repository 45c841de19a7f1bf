"""The lesson notebook runs top to bottom and shows the lesson's numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "lesson_digits.ipynb"

pytestmark = pytest.mark.slow  # starts a real Jupyter kernel


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        data = out.get("data", {})
        parts.append(data.get("text/plain", ""))
        parts.append(data.get("text/html", ""))
    return "\n".join(parts)


def test_lesson_notebook_runs_and_shows_the_lesson(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    text = "\n".join(outputs_text(c) for c in code)
    # tc.train's progress bar draws nothing where rich cannot (no ipywidgets): it warned at
    # every refresh, 30 warnings under one cell
    assert "ipywidgets" not in text and "UserWarning" not in text
    # the lesson's own numbers, computed here with scikit-learn alone
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=1)
    lesson = LogisticRegression(max_iter=10000).fit(Xtr, ytr)
    acc, wrong = lesson.score(Xte, yte), int((lesson.predict(Xte) != yte).sum())
    assert f"accuracy {acc:.5f}" in text and f"{wrong} wrong of 360" in text
    assert "1797 images of (8, 8) pixels" in text
    first_row = "[" + " ".join(f"{int(v):2d}" for v in X[0][:8])  # the first digit as 64 numbers
    assert first_row in text
    assert "k nearest neighbours" in text and "weakest class:" in text
    # the model showdown ends with the paired verdict, not two bare numbers
    assert "Verdict:" in text and "mid-p" in text
    # pictures were drawn: the 8x8 digit, the confusion matrix, the misread images, the histogram
    pngs = sum("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
    assert pngs >= 4
    # the card is shown inline and written in the run folder beside the notebook
    assert "<iframe" in outputs_text(code[-1])
    assert (tmp_path / "runs" / "lesson-digits" / "card.html").is_file()
