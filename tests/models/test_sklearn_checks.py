"""scikit-learn's own estimator checks, for every pixel model and for the cnn.

The checks feed random rows of 1 to 10 values. A pixel model takes any row (a row
that is not a square image is a 1 x F image); a network needs images, so the checks
that fit it on such rows are listed below with that reason, and the properties they
test (pickling, idempotent fit, sample-order and subset invariance, NaN input) are
tested for the cnn on real images at the end of this file.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import trueclass as tc

NOT_IMAGES = "the check fits on rows of 2, 3, 5 or 10 values, which are no images; a network needs (N, H, W) images"
CNN_LEFT_OUT = {name: NOT_IMAGES for name in (
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_estimators_dtypes",
    "check_dtype_object", "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_classifier_data_not_an_array", "check_classifiers_classes",
    "check_classifiers_train", "check_supervised_y_2d", "check_class_weight_classifiers",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_dict_unchanged",
    "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
)}
CNN_LEFT_OUT["check_fit2d_1feature"] = "a 1x1 image is too small for the cnn's pooling; it says so in a sentence"


def _expected_failures(estimator):
    return CNN_LEFT_OUT if estimator.model == "cnn" else {}


# The forest with 20 trees, not its 300: what the checks test does not depend on the number of
# trees, and scikit-learn's own checks shrink ensembles the same way (n_estimators=5).
@parametrize_with_checks(
    [tc.ImageClassifier(m) for m in ("logreg", "knn", "svm")] + [tc.ImageClassifier("forest", n_estimators=20)]
    + [tc.ImageClassifier("cnn", epochs=2)],
    expected_failed_checks=_expected_failures,
)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


# -- the same properties for the cnn, on images --------------------------------------------
@pytest.fixture(scope="module")
def small_images():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    X = rng.random((60, 8, 8)) * 0.3
    for k in range(3):  # a bright bar whose place tells the class
        X[y == k, 2 * k + 1, :] += 0.7
    return X, y


def test_cnn_on_images_pickles_refits_and_ignores_order(small_images):
    X, y = small_images
    clf = tc.ImageClassifier("cnn", epochs=3, random_state=0).fit(X, y)
    p = clf.predict_proba(X)
    assert clf.n_features_in_ == 64
    np.testing.assert_allclose(pickle.loads(pickle.dumps(clf)).predict_proba(X), p)
    np.testing.assert_allclose(clf.fit(X, y).predict_proba(X), p, atol=1e-6)  # idempotent fit
    order = np.random.default_rng(1).permutation(len(X))
    np.testing.assert_allclose(clf.predict_proba(X[order]), p[order], atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X[:7]), p[:7], atol=1e-6)  # subset invariance
    with pytest.raises(tc.TrueclassError, match="NaN"):
        clf.predict(np.where(np.eye(8, dtype=bool), np.nan, X[:2]))
    with pytest.raises(tc.TrueclassError, match="X has 3 features, but ImageClassifier is expecting 64"):
        clf.predict(np.zeros((2, 3)))
    with pytest.raises(tc.TrueclassError, match="a network needs images"):
        tc.ImageClassifier("cnn").fit(np.zeros((10, 15)), np.arange(10) % 2)


def test_parameters_are_not_attributes_set_in_init():
    clf = tc.ImageClassifier("knn", n_neighbors=3)
    assert set(vars(clf)) == {"model", "_params"}
    assert clf.n_neighbors == 3 and clf.weights == "uniform"  # read through get_params' values
    clf.set_params(n_neighbors=7)
    assert clf.get_params()["n_neighbors"] == 7 and "n_neighbors" not in vars(clf)
    with pytest.raises(AttributeError):
        clf.classes_  # noqa: B018 - a fitted attribute is never answered from the parameters


def test_rows_that_are_not_square_images_are_one_row_images():
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 15)), np.arange(40) % 2
    X[y == 1, 3] += 2
    clf = tc.ImageClassifier("logreg").fit(X, y)
    assert clf.image_shape_ == (1, 15, 1)
    assert clf.score(X, y) == 1.0
