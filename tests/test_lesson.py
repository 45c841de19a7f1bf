"""trueclass reproduces the classroom lesson's numbers exactly."""

from __future__ import annotations

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def lesson(stratify: bool = False):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=1,
                                                        stratify=y if stratify else None)
    model = LogisticRegression(max_iter=10000)
    model.fit(X_train, y_train)
    pred = model.predict(X_test)
    return model.score(X_test, y_test), int((pred != y_test).sum()), len(y_test)


# The lesson in the CLI is `make demo`'s command: tests/report/test_card_plain.py runs it
# once and checks the lesson's numbers there (accuracy, wrong, test images, the Wrong line).


def test_stratified_split_is_another_lesson(tmp_path):
    import trueclass as tc

    accuracy, _, _ = lesson()
    strat_accuracy, strat_wrong, n = lesson(stratify=True)
    run = tc.train("digits", model="logreg", test_size=0.2, seed=1, stratify=True, out=tmp_path / "s")
    # same seed, another (stratified) split: another score, as the README explains, and
    # exactly the score of train_test_split(..., stratify=y) with the lesson's model
    assert run.metrics["split"]["stratify"] is True
    assert strat_accuracy != accuracy
    assert run.metrics["accuracy"] == strat_accuracy and run.metrics["n_wrong"] == strat_wrong
