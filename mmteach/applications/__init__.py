"""Applications of the multimodal pipeline: classification, retrieval, translation, assistant.

One module per application, each loaded on first use (they import Keras, this
package does not):

* :mod:`mmteach.applications.classify` -- ``MultimodalClassifier``: fit, score,
  save/load and predict straight from files (notebook 08);
* :mod:`mmteach.applications.retrieval` -- a dual encoder trained with a symmetric
  contrastive (InfoNCE) loss, recall@k and zero-shot classification (notebook 09);
  ``Retriever`` wraps it with its vocabulary;
* :mod:`mmteach.applications.translate` -- caption translation, ``Translator`` (notebook 10);
* :mod:`mmteach.applications.assistant` -- visual question answering, ``Assistant`` (notebook 11).

The four estimators share one protocol, :class:`mmteach.applications.base.Estimator`:
``fit`` (returns the estimator), ``predict``, ``predict_proba`` where it applies,
``score`` (a documented dataclass), ``save(folder)`` and the class method
``load(folder)``, which round-trips with identical predictions. Their training goes
through :func:`mmteach.training.fit` (seeding, device).

Example
-------
>>> import mmteach.applications as apps
>>> apps.__all__[:2]
['classify', 'retrieval']
"""

from __future__ import annotations

__all__ = ["classify", "retrieval", "translate", "assistant"]


def __getattr__(name: str):
    """Import an application module on first use (``mmteach.applications.classify``)."""
    if name in __all__:
        import importlib

        return importlib.import_module(f"mmteach.applications.{name}")
    raise AttributeError(f"module 'mmteach.applications' has no attribute {name!r}")
