"""trueclass reproduces the classroom lesson's numbers exactly."""

from __future__ import annotations

import pytest
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


def test_a_model_trained_on_the_digits_answers_numbers_as_the_lessons_y_is(tmp_path):
    # a model the CLI trained, loaded in the notebook, answered '5' for 5: the lesson's own
    # check, (clf.predict(X_test) == y_test).mean(), gave 0.0 and clf.score a traceback
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import trueclass as tc

    accuracy, wrong, n = lesson()
    run = tc.train("digits", model="logreg", test_size=0.2, seed=1, stratify=False, out=tmp_path / "r")
    X, y = load_digits(return_X_y=True)
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, random_state=1)
    for clf in (run.model, tc.load_model(run.path)):
        predicted = clf.predict(X_test)
        assert predicted.dtype.kind == "i" and (predicted == y_test).mean() == accuracy
        assert clf.score(X_test, y_test) == accuracy and list(clf.classes_) == list(range(10))
    # the run's own files keep the class names as text, as for any folder of images
    assert run.metrics["classes"][:2] == ["0", "1"] and run.metrics["n_wrong"] == wrong
    # scored on images of a class it never saw: evaluate's sentence (it was int('other'): ValueError)
    other = tc.load((X_test[:20], np.where(y_test[:20] == 1, "other", y_test[:20].astype(str))))
    with pytest.raises(tc.TrueclassError, match="include classes the model was never trained on \\('other'\\)"):
        run.model.score(other)
    # labels given as words stay words; numbers given as numbers stay numbers
    words = tc.ImageClassifier("logreg").fit(tc.load((X[:200], np.where(y[:200] % 2, "odd", "even"))))
    assert set(words.predict(X[:20])) <= {"odd", "even"}
    numbers = tc.ImageClassifier("logreg").fit(tc.load((X[:200], y[:200])))
    assert numbers.predict(X[:20]).dtype.kind == "i" and numbers.score(X[:200], y[:200]) > 0.9
