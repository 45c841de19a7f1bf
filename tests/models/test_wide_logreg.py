"""logreg on more pixels than images (a folder of photos) is fitted in the images' span:
the same objective, n x n steps instead of n x pixels."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression

import trueclass as tc
from trueclass.models import _backend


def _objective(m: LogisticRegression, X: np.ndarray, y: np.ndarray) -> float:
    z = X @ m.coef_.T + m.intercept_
    return float(-(z[np.arange(len(y)), y] - logsumexp(z, axis=1)).sum() + 0.5 / m.C * (m.coef_**2).sum())


def _wide(n=90, d=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.integers(0, 256, (n, d)).astype(float) + y[:, None] * rng.normal(0, 3, d)
    return X, y


def test_the_span_fit_reaches_the_optimum_of_the_pixel_fit():
    X, y = _wide()
    params = {"C": 1e-4, "max_iter": 100_000, "tol": 1e-12}
    plain = LogisticRegression(**params).fit(X, y)
    wide = LogisticRegression(**params)
    assert _backend.fit_wide_logreg(wide, X, y)
    assert wide.coef_.shape == plain.coef_.shape and wide.n_features_in_ == X.shape[1]
    assert abs(_objective(wide, X, y) - _objective(plain, X, y)) < 1e-8 * _objective(plain, X, y)
    Xt = _wide(seed=1)[0]
    np.testing.assert_allclose(wide.predict_proba(Xt), plain.predict_proba(Xt), atol=1e-4)


def test_only_wide_l2_logreg_takes_the_span_fit():
    X, y = _wide()
    assert not _backend.fit_wide_logreg(LogisticRegression(), X[:, :200], y)  # fewer than 3 pixels an image
    assert not _backend.fit_wide_logreg(LogisticRegression(l1_ratio=1.0, solver="saga"), X, y)
    assert not _backend.fit_wide_logreg(LogisticRegression(class_weight="balanced"), X, y)


def test_the_logreg_model_uses_it_on_photos_and_not_on_the_lessons_digits(monkeypatch):
    calls = []
    real = _backend.fit_wide_logreg
    monkeypatch.setattr(_backend, "fit_wide_logreg", lambda *a: calls.append(real(*a)) or calls[-1])
    X, y = _wide()
    # the model and the review threshold's five out-of-fold fits
    clf = tc.ImageClassifier("logreg").fit(X.reshape(len(X), 20, 100, 1), y)
    assert len(calls) == 6 and all(calls) and clf.predict(X.reshape(len(X), 20, 100, 1)).shape == (len(X),)
    calls.clear()
    tc.ImageClassifier("logreg").fit(tc.load("digits"))
    assert calls and not any(calls)  # 64 pixels: the lesson's own LogisticRegression(max_iter=10000) fit
