"""The estimator protocol the four applications share, and its save/load mechanism.

Every application is a :class:`Estimator`, used with the same verbs in the manner of
scikit-learn and Keras:

========================  =================================================================
``est.fit(data, ...)``    learn from training data; returns ``est`` (so calls chain)
``est.predict(...)``      the outputs: class ids, caption indices, Chinese sentences, answers
``est.predict_proba(..)`` probabilities, where they exist (classifier, retriever, assistant;
                          a greedy translator has no single distribution to return)
``est.score(data, ...)``  a documented result dataclass (``ClassificationScore``, ...)
``est.save(folder)``      writes ``<name>.keras`` per Keras model and one JSON config
``Cls.load(folder)``      rebuilds an estimator that predicts exactly what the saved one did
========================  =================================================================

Hyper-parameters go to the constructor, training budgets (``epochs``, ``batch_size``)
to ``fit``, as in :class:`~mmteach.applications.classify.MultimodalClassifier`. A
subclass provides ``fit``, ``predict`` and ``score``, plus three small hooks for
saving: ``_state()`` (a JSON-able dict), ``_models()`` (the Keras models to write) and
the class method ``_restore(state, models)``.

Example
-------
>>> from mmteach.applications.base import Estimator
>>> sorted(v for v in ("fit", "predict", "score", "save", "load") if hasattr(Estimator, v))
['fit', 'load', 'predict', 'save', 'score']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from mmteach.datasets import DataError
from mmteach.validation import check_path

__all__ = ["FORMAT", "Estimator"]

#: version of the JSON config written by :meth:`Estimator.save`
FORMAT = 1


class Estimator:
    """Base of the applications: ``fit``, ``predict``, ``score``, ``save``, ``load``.

    Subclasses set :attr:`config_file` (the JSON file :meth:`save` writes), keep their main
    Keras model in ``self.model`` (None until fitted) and implement the verbs and the three
    saving hooks described in the module docstring.

    Example
    -------
    >>> Estimator.config_file
    'estimator.json'
    """

    #: name of the JSON config that :meth:`save` writes next to the ``.keras`` files
    config_file: ClassVar[str] = "estimator.json"

    # ------------------------------------------------------------------ the verbs

    def fit(self, *args: Any, **kwargs: Any) -> Estimator:
        """Learn from training data; returns ``self``."""
        raise NotImplementedError(f"{type(self).__name__}.fit")

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """The estimator's outputs for new inputs."""
        raise NotImplementedError(f"{type(self).__name__}.predict")

    def score(self, *args: Any, **kwargs: Any) -> Any:
        """A result dataclass measured on labelled data."""
        raise NotImplementedError(f"{type(self).__name__}.score")

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has given the estimator its Keras ``model``."""
        return getattr(self, "model", None) is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            name = type(self).__name__
            raise RuntimeError(f"{name}: call fit(...) or {name}.load(...) first")

    # ------------------------------------------------------------------ saving hooks

    def _state(self) -> dict:
        """Everything but the Keras models, as a JSON-able dict."""
        raise NotImplementedError(f"{type(self).__name__}._state")

    def _models(self) -> dict[str, Any]:
        """The Keras models to save, ``{file stem: model}`` (None entries are skipped)."""
        raise NotImplementedError(f"{type(self).__name__}._models")

    @classmethod
    def _restore(cls, state: dict, models: dict[str, Any]) -> Estimator:
        """Rebuild an estimator from :meth:`_state` and the loaded models."""
        raise NotImplementedError(f"{cls.__name__}._restore")

    # ------------------------------------------------------------------ save / load

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/<name>.keras`` per Keras model and ``folder/<config_file>``; returns ``folder``.

        Example
        -------
        >>> est.save("my_model")  # doctest: +SKIP
        PosixPath('my_model')
        """
        folder = Path(check_path("folder", folder))
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        for name, model in self._models().items():
            if model is not None:
                model.save(folder / f"{name}.keras")
                names.append(name)
        config = {"class": type(self).__name__, "format": FORMAT, "models": names, "state": self._state()}
        (folder / self.config_file).write_text(json.dumps(config, indent=1, ensure_ascii=False), "utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Estimator:
        """Rebuild an estimator written by :meth:`save`; its predictions are identical.

        Raises
        ------
        DataError
            ``folder`` lacks the config or a model file, or the config is not this class's.

        Example
        -------
        >>> again = type(est).load("my_model")  # doctest: +SKIP
        """
        import keras

        folder = Path(check_path("folder", folder))
        path = folder / cls.config_file
        if not path.is_file():
            raise DataError(
                f"folder: {cls.config_file} not found in {folder}; expected a folder written by save()"
            )
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
            names, state = list(config["models"]), dict(config["state"])
            if config["class"] != cls.__name__ or config["format"] != FORMAT:
                raise ValueError(f"written by {config['class']} (format {config['format']})")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DataError(f"folder: {cls.config_file} is not a {cls.__name__} config ({exc})") from None
        models = {}
        for name in names:
            if not (folder / f"{name}.keras").is_file():
                raise DataError(
                    f"folder: {name}.keras not found in {folder}; expected a folder written by save()"
                )
            try:
                models[name] = keras.saving.load_model(folder / f"{name}.keras")
            except Exception as exc:  # Keras raises many kinds (ValueError, OSError, BadZipFile, ...)
                raise DataError(
                    f"folder: {name}.keras could not be loaded ({type(exc).__name__}: {exc})"
                ) from None
        try:
            return cls._restore(state, models)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"folder: {cls.config_file} is not a {cls.__name__} config ({exc!r})") from None
