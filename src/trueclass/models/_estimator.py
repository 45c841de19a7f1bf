"""``ImageClassifier``: one scikit-learn estimator in front of every model in the registry."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .._errors import NotFittedError, TrueclassError
from ..data import NUMBER_LABELS, Dataset, infer_value_max, labels_problem
from ._inputs import as_images, check_type, checked_array, checked_labels, need_two_classes, type_of
from ._registry import get_spec
from .._numerics import keeps_torch_numerics

__all__ = ["ImageClassifier", "NotFittedError", "DEFAULT_MODEL"]

#: The default model. Of the classic pixel models svm is the best on digits (mean test
#: accuracy over 5 stratified 80/20 splits on a 2-core AMD EPYC: svm 0.991, knn 0.984,
#: forest 0.974, logreg 0.964; benchmarks/classic_digits.py); the cnn beats them all
#: (benchmarks/digits_cnn.py).
DEFAULT_MODEL = "cnn"

#: Without validation images, a pixel model takes its temperature and review threshold
#: from out-of-fold predictions on at most this many of its training images
#: (:func:`held_out_predictions`).
HELD_OUT_SAMPLE = 2000
HELD_OUT_FOLDS = 5


def _is_number(name: str) -> bool:
    """A class name that is a whole number written as str() writes it ("7", "-1"; not "07")."""
    try:
        return str(int(name)) == name
    except ValueError:
        return False


class ImageClassifier(ClassifierMixin, BaseEstimator):
    """An image classifier that behaves like any scikit-learn estimator.

    Parameters
    ----------
    model : a registered model name (``trueclass.list_models()``): "cnn", "logreg",
        "knn", "svm", "forest", "timm:<name>".
    **params : the model's hyperparameters (``C=1.0`` for logreg, ...); unset ones take
        the model's defaults, which ``get_params()`` shows. They read as attributes
        (``clf.C``) and change with ``set_params``.

    ``fit`` takes a :class:`~trueclass.Dataset`, or ``(X, y)`` with ``X`` of shape
    (N, H, W), (N, H, W, C) or flattened rows (N, F), as ``load_digits().data`` is: a
    row of H*H values is an H x H image, any other row a 1 x F image (pixel models
    only; a network needs images).

    Learned attributes: ``classes_``, ``class_counts_`` (training images per class),
    ``image_shape_`` (H, W, C), ``value_max_``,
    ``n_features_in_``, ``estimator_`` (the fitted backend), ``train_seconds_``,
    ``training_`` (what it was trained on), ``calibration_`` (the temperature fitted on
    validation images that ``predict_proba`` applies, or why there is none),
    ``held_out_`` (a pixel model fitted without validation images: its out-of-fold
    predictions on its training images, which chose the temperature and the review
    threshold; else None), ``review_threshold_`` (the confidence below which an answer
    is flagged for review: chosen on those held-out predictions, else 0.5),
    ``fingerprints_`` (of its training and validation images: ``trueclass.evaluate``
    leaves out any image it was trained on).
    """

    def __init__(self, model: str = DEFAULT_MODEL, **params: Any):
        self.model = model
        # private, so scikit-learn's checks see __init__ set its parameters and nothing else
        self._params = dict(params)

    def __getattr__(self, name: str) -> Any:
        # a model hyperparameter read as an attribute (clf.C, clf.n_neighbors); fitted
        # attributes (ending in "_") and private names are never answered from here, but
        # a loaded model's fingerprints, read from where it was saved when first asked for
        # (by evaluate: predicting never needs them, nor a folder copied without them)
        if name == "fingerprints_" and self.__dict__.get("_saved_at") is not None:
            from ._io import load_fingerprints

            self.fingerprints_ = load_fingerprints(self._saved_at)
            return self.fingerprints_
        params = self.__dict__.get("_params")
        if params is None or name.startswith("_") or name.endswith("_"):
            raise AttributeError(name)
        if name in params:
            return params[name]
        defaults = self._spec_defaults()
        if name in defaults:
            return defaults[name]
        raise AttributeError(f"'ImageClassifier' object has no attribute {name!r}")

    # -- scikit-learn's parameter protocol ---------------------------------------------
    def _spec_defaults(self) -> dict[str, Any]:
        try:
            spec = get_spec(self.model)
        except TrueclassError:
            return {}
        return dict(spec.defaults) | ({"random_state": None} if spec.accepts_random_state else {})

    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 - no nested estimators
        out: dict[str, Any] = {"model": self.model}
        for key, default in self._spec_defaults().items():
            out[key] = self._params.get(key, default)
        for key, value in self._params.items():
            out.setdefault(key, value)
        return out

    def set_params(self, **params: Any) -> "ImageClassifier":
        if "model" in params:
            self.model = params.pop("model")
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise TrueclassError(
                    f"{key!r} is not a parameter of model {self.model!r}; it takes "
                    f"{', '.join(k for k in valid if k != 'model')}."
                )
            self._params[key] = value
        return self

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803 - scikit-learn's signature
        defaults = self._spec_defaults()
        shown = [f"model={self.model!r}"]
        for key, value in self.get_params().items():
            if key != "model" and (key not in defaults or value != defaults[key]):
                shown.append(f"{key}={value!r}")
        return f"ImageClassifier({', '.join(shown)})"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        return tags

    # -- input handling -----------------------------------------------------------------
    def _images_and_labels(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, dict]:
        """Float images (N, H, W, C), label indices, class values, value_max, provenance."""
        if isinstance(X, Dataset):
            if y is not None:
                raise TrueclassError("fit(dataset) takes its labels from the dataset; do not pass y as well.")
            classes = np.asarray(X.classes)
            if X.provenance.get(NUMBER_LABELS) and not X.multilabel and all(_is_number(c) for c in classes):
                classes = np.asarray([int(c) for c in classes])  # answered as numbers, as they were given
            info = {"source": X.provenance.get("source"), "hash": X.hash, "n_images": len(X),
                    "part": X.provenance.get("part")}
            return X.images, X.labels, classes, X.value_max, info
        if y is None:
            raise TrueclassError("fit(X, y) needs the labels y as well as the images X (or pass a Dataset): "
                                 "this estimator requires y to be passed, but the target y is None.")
        raw = checked_array(X, task="train on")
        y = checked_labels(y, len(raw))  # the labels first: their sentences hold for any X
        images = as_images(raw, rows_as_images=not get_spec(self.model).is_network)
        value_max = infer_value_max(raw)
        if y.ndim == 2:  # a 0/1 indicator matrix: several labels per image
            return images, y.astype(np.int64), np.arange(y.shape[1]), value_max, {"source": "arrays",
                                                                                   "n_images": len(images)}
        classes, idx = np.unique(y, return_inverse=True)
        return images, idx, classes, value_max, {"source": "arrays", "n_images": len(images)}

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise NotFittedError(
                "This ImageClassifier is not fitted yet: call fit(X, y) (or fit(dataset)) first, then predict."
            )

    def _features(self, X: Any) -> np.ndarray:
        self._check_fitted()
        h, w, c = self.image_shape_
        if isinstance(X, Dataset):
            images = self._raw_images(X)
        else:
            arr = checked_array(X, allow_1d=False, folder=self.__dict__.get("_saved_at"))
            if arr.ndim == 2 and arr.shape == (h, w) and arr.shape[1] != h * w * c:
                arr = arr[None]  # one image given on its own
            elif arr.ndim == 3 and arr.shape == (h, w, c) and c in (1, 3):
                arr = arr[None]  # one image given on its own (a PIL image, np.asarray of a photo)
            images = as_images(arr, expected=(h, w, c))
        if images.shape[1:3] != (h, w):
            raise TrueclassError(
                f"This model was trained on {w}x{h} images; these are {images.shape[2]}x{images.shape[1]}. "
                f"Resize them to {w}x{h} first (trueclass.load(source, image_size={w if w == h else f'{w}x{h}'!r}) does it)."
            )
        if images.shape[3] != c:
            kind = {1: "grey (1 channel)", 3: "colour (3 channels)"}
            raise TrueclassError(
                f"This model was trained on {kind[c]} images; these are {kind.get(images.shape[3], images.shape[3])}. "
                f"Load them with color_mode={'L' if c == 1 else 'RGB'!r}."
            )
        return self._prepare(images)

    def _prepare(self, images: np.ndarray) -> Any:
        """Checked images (N, H, W, C) in the model's units -> what the backend takes."""
        return get_spec(self.model).prepare(images, self.value_max_)

    # -- the estimator API ----------------------------------------------------------------
    @keeps_torch_numerics
    def fit(self, X: Any, y: Any = None, *, val: Any = None, on_progress: Any = None,
            checkpoint: Any = None, resume: bool = False, fingerprints: Any = None,
            held_out: bool | None = None) -> "ImageClassifier":
        """Train on a Dataset, or on images ``X`` with labels ``y``. Returns self.

        The fingerprints of every training and validation image (``fingerprints_``) are
        kept and saved with the model, so that evaluating it later never scores an image
        it has seen; ``fingerprints`` passes ones already computed, or False for none.

        Neural networks also take ``val`` (a Dataset never used for training: early
        stopping and the per-epoch history; without it they carve ``val_fraction`` of the
        training images), ``on_progress(stage, done, total, **info)``, and
        ``checkpoint`` (a file written after every epoch) with ``resume=True`` to go on
        from it.

        A pixel model fitted without validation images takes its temperature and review
        threshold from out-of-fold predictions on (at most 2,000 of) its training images
        (:func:`held_out_predictions`, seeded by ``random_state``), as ``trueclass train``
        does; ``held_out=False`` skips that, and so does ``fingerprints=False`` (the
        checks' refits) unless ``held_out=True``.
        """
        spec, params = self.check_params()
        random_state = params.pop("random_state", None)
        images, y_idx, classes, value_max, info = self._images_and_labels(X, y)
        if len(images) == 0:
            raise TrueclassError("There are no images to train on.")
        multilabel = y_idx.ndim == 2
        if multilabel and not spec.is_network:
            raise TrueclassError(
                f"Several labels per image need a neural network (cnn or timm:<name>); {self.model!r} takes one."
            )
        if not multilabel:
            need_two_classes(classes[y_idx])
        self.__dict__.pop("_saved_at", None)  # a loaded or saved model, fitted again: its own now
        for attr in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, attr)  # a second fit starts from nothing
        self.image_shape_ = tuple(int(v) for v in images.shape[1:])
        self.value_max_ = int(value_max)
        self.classes_ = classes
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self.multilabel_ = multilabel
        if not multilabel:  # the majority baseline is always the training images' majority class
            self.class_counts_ = np.bincount(y_idx, minlength=len(classes))
        backend = spec.build(params, y_idx, random_state, n_classes=len(classes), multilabel=multilabel)
        val_data = None
        if spec.is_network and val is not None and len(val):
            val_data = (spec.prepare(self._raw_images(val), self.value_max_), self.label_indices(val, "validation"))
        t0 = time.perf_counter()
        views = [] if spec.train_views is None else spec.train_views(images, self.value_max_, params)
        if views:  # the probe's mirrored and shifted copies: training only, told as one bar
            total = len(images) * (1 + len(views))
            x_fit = np.concatenate([spec.prepare(v, self.value_max_, _part_of(on_progress, k * len(images), total))
                                    for k, v in enumerate([images, *views])])
            y_fit = np.tile(y_idx, 1 + len(views))
        else:
            x_fit, y_fit = spec.prepare(images, self.value_max_, on_progress), y_idx
        backend.fit(x_fit, y_fit, val=val_data, on_progress=on_progress,
                    checkpoint=checkpoint, resume=resume, source=info.get("source"))
        self.train_seconds_ = time.perf_counter() - t0
        self.estimator_ = backend
        if getattr(backend, "n_iter_", None) is not None:
            self.n_iter_ = backend.n_iter_
        self.training_ = info
        self.fingerprints_ = (_fingerprints_of(images, self.value_max_, val) if fingerprints is None
                              else fingerprints or None)
        self.held_out_ = None
        if held_out is None:
            held_out = fingerprints is not False
        if held_out and not multilabel and not spec.is_network and not (val is not None and len(val)):
            seed = int(random_state) if isinstance(random_state, (int, np.integer)) else 0
            self.held_out_ = held_out_predictions(self, images, y_idx, classes, seed, on_progress)
        self.thresholds_ = np.full(len(classes), 0.5)
        if multilabel and val is not None and len(val):
            from ..evaluation import choose_label_thresholds

            self.thresholds_ = choose_label_thresholds(self.label_indices(val, "validation"), self.predict_proba(val))
        self._calibrate_after_fit(val, backend)
        self.review_threshold_ = self._review()[0]
        return self

    def _review(self) -> tuple[float, str | None, float | None]:
        """The review threshold, what chose it, and the accuracy it aims at: chosen, as
        ``evaluate`` chooses it, on the calibrated held-out predictions; else 0.5."""
        from ..evaluation import _metrics as m, calibrated

        held = getattr(self, "held_out_", None)
        if held is None:
            return m.DEFAULT_THRESHOLD, None, None
        y, probs, name = held
        target = m.DEFAULT_TARGET_ACCURACY
        return float(m.choose_threshold(y, calibrated(probs, self.calibration_), target)), name, float(target)

    def _calibrate_after_fit(self, val: Any, backend: Any) -> None:
        """The temperature from the validation images: ``val``, else the ones a network
        set aside from its training images (``val_fraction``); else none."""
        from ..evaluation import fit_calibration, uncalibrated

        carved = getattr(backend, "carved_val_", None)
        if carved is not None:
            backend.carved_val_ = None  # the copy of those images is not kept
        if self.multilabel_:
            self.calibration_ = uncalibrated("a multi-label model answers each label with its own threshold, chosen "
                                             "on validation images; no temperature is fitted")
        elif val is not None and len(val):
            self.calibrate(val)
        elif carved is not None:
            feats, y_val = carved
            self.calibration_ = fit_calibration(y_val, self._answer(feats),
                                                f"{len(y_val):,} validation images set aside from the training images")
        elif getattr(self, "held_out_", None) is not None:
            self.calibration_ = fit_calibration(*self.held_out_)
        else:
            from ..evaluation import MIN_TEMPERATURE_IMAGES

            n = int(self.class_counts_.sum()) if getattr(self, "class_counts_", None) is not None else 0
            least = MIN_TEMPERATURE_IMAGES
            share = math.ceil(100 * least / max(n, 1)) / 100  # of a training part of n images
            how = (f"calibrate(X_val, y_val) in Python ({least} images or more), or --val-size {share:g} or more in "
                   "trueclass train, fits a temperature on images it never trained on, never the test images"
                   if share <= 0.5 else
                   f"calibrate(X_val, y_val) in Python with {least} or more images it never trained on (never the "
                   f"test images) fits a temperature; --val-size would leave too few of these {n:,} to train on")
            self.calibration_ = uncalibrated(f"it was fitted without validation images, so it answers its raw "
                                             f"scores; {how}")

    @keeps_torch_numerics
    def calibrate(self, X: Any, y: Any = None) -> "ImageClassifier":
        """Fit the temperature that makes the model's confidence honest, on held-out
        images ``X`` (a Dataset, or images with labels ``y``): validation images the
        model never trained on, never the test images. ``predict_proba`` and
        ``predict`` then answer softmax(log p / T); ``predict_proba(X, raw=True)`` still
        gives the raw scores. ``fit(..., val=val)`` calls it. With too few held-out
        images no temperature is fitted, and ``calibration_`` says why.
        Returns self."""
        from ..evaluation import fit_calibration

        self._check_fitted()
        if getattr(self, "multilabel_", False):
            raise TrueclassError("A multi-label model has a threshold per label instead of a temperature; "
                                 "it is not calibrated.")
        if X is None:  # tc.split(ds).val: a split without val_size has no validation part
            raise TrueclassError("calibrate got no images (None): give it held-out validation images, such as "
                                 "tc.split(ds, val_size=0.1).val, or (X_val, y_val).")
        if not isinstance(X, Dataset):
            if y is None:
                raise TrueclassError("calibrate(X, y) needs the labels y of the held-out images X (or pass a Dataset).")
            from ..data import from_arrays

            X = from_arrays(X, y, value_max=self.value_max_, source="arrays")  # as evaluate takes (X, y)
        elif y is not None:
            raise TrueclassError("calibrate(dataset) takes its labels from the dataset; do not pass y as well.")
        self.calibration_ = fit_calibration(self.label_indices(X, "validation"), self.predict_proba(X, raw=True),
                                            f"{len(X):,} validation images")
        if (getattr(self, "metadata_", None) or {}).get("threshold") is not None:
            # a loaded model's review threshold was chosen under its old temperature: no longer its own
            self.metadata_ = {**self.metadata_, "threshold": None}
        return self

    @classmethod
    def _from_saved(cls, meta: dict[str, Any], backend: Any) -> "ImageClassifier":
        """The estimator of a model folder: its parameters, fitted attributes and backend."""
        from ..evaluation import uncalibrated

        params = dict(meta.get("params", {}))
        if "device" in params:  # as the network's own (TorchBackend.load): where it trained is not where it runs
            params["device"] = "auto"
        model = cls(meta["model"], **params)
        dtype = {"int": np.int64, "float": np.float64, "bool": bool, "str": str}[meta.get("classes_type", "str")]
        model.classes_ = np.asarray(meta["classes"], dtype=dtype)
        model.image_shape_ = (int(meta["image_size"][0]), int(meta["image_size"][1]), int(meta["channels"]))
        model.value_max_ = int(meta["value_max"])
        model.n_features_in_ = int(np.prod(model.image_shape_))
        model.estimator_ = backend
        model.training_ = meta.get("training", {})
        model.train_seconds_ = model.training_.get("train_seconds")
        model.multilabel_ = bool(meta.get("multilabel", False))
        if meta.get("class_counts") is not None:
            model.class_counts_ = np.asarray(meta["class_counts"], dtype=np.int64)
        model.thresholds_ = np.asarray(meta.get("label_thresholds") or [0.5] * len(model.classes_), dtype=np.float64)
        model.calibration_ = meta.get("calibration") or uncalibrated(
            "it was saved without a temperature (by an earlier version of trueclass), so it answers its raw scores")
        model.metadata_ = meta
        return model

    def check_params(self) -> tuple[Any, dict[str, Any]]:
        """The model's spec and hyperparameters; a sentence for an unknown name."""
        spec = get_spec(self.model)
        params = self.get_params()
        params.pop("model")
        unknown = [k for k in params if k not in spec.defaults and k != "random_state"]
        if unknown:
            raise TrueclassError(
                f"{unknown[0]!r} is not a parameter of model {self.model!r}; it takes "
                f"{', '.join(spec.defaults) or 'no parameters'}."
            )
        for key, value in params.items():
            check_type(self.model, key, value, spec.types.get(key, type_of(spec.defaults.get(key))))
        seed = params.get("random_state")
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and not 0 <= seed < 2**32:
            raise TrueclassError(f"random_state must be a whole number of 0 to 4,294,967,295 (or None); got {seed}.")
        if spec.check is not None:
            spec.check(params)
        return spec, params

    def _raw_images(self, ds: Any) -> np.ndarray:
        """A Dataset's images in the units the model was trained in (digits: 0-16)."""
        if not isinstance(ds, Dataset):
            raise TrueclassError("val must be a trueclass Dataset (for example split(...).val).")
        if ds.value_max != self.value_max_:
            return ds.images.astype(np.float64) * (self.value_max_ / ds.value_max)
        return ds.images

    def label_indices(self, ds: Any, what: str = "test") -> np.ndarray:
        """``ds``'s labels as indices into ``classes_``, matched by class name (for a
        multi-label set, a 0/1 matrix with columns in the order of ``classes_``)."""
        names = [str(c) for c in self.classes_]
        index = {c: i for i, c in enumerate(names)}
        present = ds.classes if ds.multilabel else [ds.classes[j] for j in np.unique(ds.labels)]
        unknown = sorted(set(present) - set(index))
        if unknown:
            raise TrueclassError(
                f"The {what} images include classes the model was never trained on "
                f"({', '.join(map(repr, unknown))}); it knows {', '.join(map(repr, names))}."
            )
        lookup = np.array([index.get(c, -1) for c in ds.classes], dtype=np.int64)
        if ds.multilabel:
            out = np.zeros((len(ds), len(names)), dtype=np.int64)
            out[:, lookup] = ds.labels
            return out
        return lookup[ds.labels]

    @property
    def history_(self) -> list[dict[str, Any]]:
        """Per-epoch train and validation loss and accuracy (neural networks only)."""
        self._check_fitted()
        return list(self.estimator_.history_)

    @keeps_torch_numerics
    def predict_proba(self, X: Any, *, raw: bool = False) -> np.ndarray:
        """Probabilities (N, n_classes), columns in the order of ``classes_``: calibrated
        by the temperature fitted on validation images (``calibration_``), or with
        ``raw=True`` the model's own scores. Calibration never changes which class wins."""
        from ..evaluation import calibrated

        probs = self._answer(self._features(X))
        return probs if raw or self.multilabel_ else calibrated(probs, getattr(self, "calibration_", None))

    def _answer(self, feats: Any) -> np.ndarray:
        """The backend's raw probabilities, in the columns of ``classes_``."""
        raw = np.asarray(self.estimator_.predict_proba(feats, tta=self._params.get("tta")), dtype=np.float64)
        probs = np.zeros((raw.shape[0], len(self.classes_)))
        probs[:, np.asarray(self.estimator_.classes_, dtype=np.int64)] = raw
        return probs

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each image; for multi-label models, a 0/1 matrix
        (N, n_classes) with each label's own threshold (chosen on validation data)."""
        probs = self.predict_proba(X)
        if getattr(self, "multilabel_", False):
            return (probs >= self.thresholds_).astype(np.int64)
        return self.classes_[np.argmax(probs, axis=1)]

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Accuracy on ``X`` (a Dataset, or images with labels ``y``)."""
        if getattr(self, "multilabel_", False):
            y_true = self.label_indices(X) if isinstance(X, Dataset) else np.asarray(y)
            return float(np.mean((self.predict(X) == y_true).all(axis=1)))  # subset accuracy
        if isinstance(X, Dataset):  # matched by name, with evaluate's sentence for a class it never saw
            y = self.classes_[self.label_indices(X)]
        elif np.asarray(X).ndim != 1 and labels_problem(y):  # one image given alone: predict's sentence says it
            raise TrueclassError(labels_problem(y))
        return super().score(X, y, sample_weight=sample_weight)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Any, **extra: Any):
        """Write the model folder (``model.json`` + weights); returns its path."""
        from ._io import save_model

        if not hasattr(self, "estimator_"):
            raise NotFittedError("This ImageClassifier is not fitted yet: call fit first, then save.")
        threshold, chosen_on, target = self._review() if hasattr(self, "estimator_") else (None, None, None)
        if chosen_on is not None:  # the review threshold the model chose travels with it (trueclass evaluate)
            extra.setdefault("threshold", threshold)
            extra.setdefault("threshold_chosen_on", chosen_on)
            extra.setdefault("review_target", target)
        saved = save_model(self, path, **extra)
        self._saved_at = saved  # named where a file name is given in place of images
        return saved


def held_out_predictions(model: ImageClassifier, images: np.ndarray, y_idx: np.ndarray, classes: np.ndarray,
                         seed: int, on_progress: Any = None) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Out-of-fold raw predictions on at most ``HELD_OUT_SAMPLE`` of the training images
    (``images``, labels ``y_idx`` into ``classes``), by fresh copies of ``model``: what a
    pixel model without validation images fits its temperature and chooses its review
    threshold on instead of a guess of 0.5 (never the test images). (labels, raw
    probabilities, what they are), or None when a class has too few images for two folds
    or a fold is too small for the model. ``seed`` draws the images and the folds."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if on_progress is not None:
        on_progress("choosing the review threshold and temperature by cross-validation", 0, 0)
    rng = np.random.default_rng(seed)
    n = min(len(images), HELD_OUT_SAMPLE)
    pick = np.sort(rng.choice(len(images), n, replace=False))
    y = np.asarray(y_idx)[pick]
    folds = int(min(HELD_OUT_FOLDS, np.bincount(y).min() if len(y) else 0))
    if folds < 2:
        return None
    try:
        probs = cross_val_predict(clone(model), images[pick], np.asarray(classes)[y],
                                  cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                                  method="predict_proba", params={"fingerprints": False},  # the folds keep none
                                  n_jobs=1)  # in this process: the studio trains from a thread (no fork)
    except TrueclassError:  # a fold too small for the model (knn's k, svm's calibration)
        return None
    # the copies learn the class names as scikit-learn does, sorted; ``y`` counts in the order
    # of ``classes`` (a Parquet file's ClassLabel order, for one): the columns follow it too
    names = [str(c) for c in classes]
    column = {c: i for i, c in enumerate(names)}
    out = np.zeros((len(probs), len(names)))
    out[:, [column[str(c)] for c in np.unique(np.asarray(classes)[y])]] = probs
    return y, out, f"{folds}-fold cross-validation on {n:,} training images"


def _fingerprints_of(images: np.ndarray, value_max: int, val: Any) -> Any:
    """Fingerprints of the training images (any units) and of the validation Dataset;
    None for images that are not grey or colour (nothing to compare them with)."""
    from ._fingerprints import Fingerprints
    from ..data import to_display

    if images.shape[-1] not in (1, 3):
        return None
    prints = Fingerprints.of(to_display(images, value_max))
    if isinstance(val, Dataset) and len(val) and val.images.shape[1:] == images.shape[1:]:
        prints = Fingerprints.concat([prints, Fingerprints.of(to_display(val.images, val.value_max))])
    return prints


def _part_of(on_progress: Any, before: int, total: int) -> Any:
    """``on_progress`` for one part of a longer job, told as the progress of the whole:
    ``before`` items are done ahead of this part, ``total`` in all."""
    if on_progress is None:
        return None

    def tell(stage: str, done: int = 0, _part_total: int = 0, **kw: Any) -> None:
        on_progress(stage, before + done, total, **kw)

    return tell
