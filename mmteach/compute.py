"""What the course's models cost: parameters, multiply-adds per sample, seconds and memory.

:func:`multiply_adds` counts, layer by layer, the multiply-add operations (MACs) one
sample needs in a forward pass: a Dense layer with an ``(n_in, n_out)`` kernel costs
``n_in * n_out`` per position, a convolution ``kh * kw * c_in * c_out`` per output
pixel, a recurrent layer its kernel plus its recurrent kernel at every time step,
dot-product attention ``2 * T_query * T_memory * units``. Element-wise work
(activations, biases, normalisation) is left out: it is small next to these. One
MAC is two FLOPs (a multiply and an add).

:func:`course_models` lists every model the course builds, untrained, from the
package itself (so a model added to :mod:`mmteach.models` or an application module
shows up); :func:`cost_table` puts their parameters and MACs in one table and
:func:`time_and_memory` measures training seconds and peak memory on a few batches.

Example
-------
>>> import keras
>>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])  # doctest: +SKIP
>>> multiply_adds(m)  # doctest: +SKIP
12
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["CourseModel", "course_models", "cost_table", "multiply_adds", "time_and_memory"]


_SEEN_SHAPES: dict[int, object] = {}


def _shape(layer) -> tuple | list | None:
    if id(layer) in _SEEN_SHAPES:
        return _SEEN_SHAPES[id(layer)]
    shapes = getattr(layer, "_build_shapes_dict", None) or {}
    if not shapes:
        return None
    return next(iter(shapes.values()))


def _prod(dims) -> int:
    return int(math.prod(int(d) for d in dims if d is not None))


def _layer_macs(layer) -> int | None:
    """MACs of one layer per sample, or None when the layer is a container to descend into."""
    from keras import layers

    shape = _shape(layer)
    if isinstance(layer, layers.Embedding):
        return 0  # a table look-up
    if isinstance(layer, layers.Bidirectional):
        return sum(_layer_macs(x) or 0 for x in (layer.forward_layer, layer.backward_layer))
    if isinstance(layer, layers.RNN) and hasattr(layer, "cell"):
        steps = int(shape[1]) if shape is not None and len(shape) > 2 and shape[1] is not None else 1
        per_step = sum(
            int(np.prod(w.shape)) for w in layer.cell.weights if len(w.shape) >= 2 and "bias" not in w.name
        )
        return steps * per_step
    if isinstance(layer, layers.Dense | layers.EinsumDense) and shape is not None:
        return _prod(shape[1:-1]) * int(np.prod(layer.kernel.shape))
    if isinstance(layer, layers.Conv1D | layers.Conv2D | layers.Conv3D) and shape is not None:
        out = layer.compute_output_shape(tuple(shape))
        return _prod(out[1:-1]) * int(np.prod(layer.kernel.shape))
    if isinstance(layer, layers.MultiHeadAttention):
        # the four projections, the scores q.k and the weighted sum of the values
        q, k = _shape(layer._query_dense), _shape(layer._key_dense)
        t = _prod(q[1:2]) if q is not None else 1
        s = _prod(k[1:2]) if k is not None else 1
        size = {name: int(np.prod(getattr(layer, name).kernel.shape))
                for name in ("_query_dense", "_key_dense", "_value_dense", "_output_dense")}  # fmt: skip
        projections = t * (size["_query_dense"] + size["_output_dense"])
        projections += s * (size["_key_dense"] + size["_value_dense"])
        return projections + 2 * t * s * layer.num_heads * layer.key_dim
    if isinstance(layer, layers.Attention | layers.AdditiveAttention) and shape is not None:
        query, value = shape[0], shape[1]
        return 2 * _prod(query[1:2]) * _prod(value[1:2]) * int(query[-1])
    subs = list(layer._flatten_layers(include_self=False, recursive=False))
    if subs:
        return None
    # any other layer with weights: each weight matrix used once per sample
    return sum(int(np.prod(w.shape)) for w in layer.weights if len(w.shape) >= 2 and "bias" not in w.name)


def _record_shapes(model, inputs) -> None:
    """Run ``model`` eagerly on ``inputs`` and note the input shape every layer sees.

    Sequence lengths are often ``None`` in a model's declared shapes; the real call
    tells how many time steps a recurrent layer runs.
    """
    import keras

    original = keras.layers.Layer.__call__

    def shape_of(x):
        return tuple(x.shape) if hasattr(x, "shape") else x

    def recording(self, *args, **kwargs):
        if args:
            first = args[0]
            if isinstance(first, list | tuple):
                _SEEN_SHAPES.setdefault(id(self), [shape_of(x) for x in first])
            elif not isinstance(first, dict):
                _SEEN_SHAPES.setdefault(id(self), shape_of(first))
        return original(self, *args, **kwargs)

    keras.layers.Layer.__call__ = recording
    try:
        model(inputs)
    finally:
        keras.layers.Layer.__call__ = original


def _one(x):
    if isinstance(x, dict):
        return {k: v[:1] for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [v[:1] for v in x]
    return x[:1]


def multiply_adds(model, inputs=None) -> int:
    """Multiply-adds per sample of a built Keras model (forward pass, weight layers).

    ``inputs`` (a batch the model accepts) fills in sequence lengths the model leaves
    open (``None``); without it, a recurrent layer of unknown length counts one step.

    Example
    -------
    >>> import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])  # doctest: +SKIP
    >>> multiply_adds(m)  # doctest: +SKIP
    12
    """
    import keras

    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"model: expected a Keras model or layer, got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"model: expected a built model (call it once on data), got unbuilt {model.name!r}")
    _SEEN_SHAPES.clear()
    if inputs is not None:
        _record_shapes(model, _one(inputs))
    total, seen = 0, set()

    def visit(layer) -> None:
        nonlocal total
        if id(layer) in seen:
            return
        seen.add(id(layer))
        macs = _layer_macs(layer)
        if macs is not None:
            total += macs
            return
        for sub in layer._flatten_layers(include_self=False, recursive=False):
            visit(sub)

    for sub in model._flatten_layers(include_self=False, recursive=False):
        visit(sub)
    _SEEN_SHAPES.clear()
    return int(total)


def count_params(model) -> int:
    """Trainable parameters (numbers the optimiser changes)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@dataclass(frozen=True)
class CourseModel:
    """A model of the course: name, notebook, builder ``() -> (model, inputs, targets)``.

    ``inputs``/``targets`` are a small batch of the right shapes (for building and timing);
    ``targets`` is None for models whose loss needs no labels.
    """

    name: str
    notebook: str
    build: Callable[[], tuple]


def _batch(n: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "image": rng.random((n, 32, 32, 3), dtype=np.float32),
        "text": rng.integers(1, vocab, size=(n, 16)).astype("int32"),
        "audio": rng.normal(size=(n, 30, 65)).astype("float32"),
    }


def course_models(vocab_size: int = 114, batch: int = 32) -> list[CourseModel]:
    """Every model the course builds, as builders (nothing is built or trained here).

    Rows come from the package: one unimodal classifier per modality and text RNN
    kind (notebooks 02-03), one fused model per fusion method and weighting mode
    (04-06), then every application module of :mod:`mmteach.applications` that can
    be imported and that this function knows how to build (07 onwards).

    Example
    -------
    >>> [m.name for m in course_models()][:3]  # doctest: +SKIP
    ['image CNN', 'text GRU', 'text LSTM']
    """
    import importlib

    from mmteach.fusion import WEIGHTED_MODES
    from mmteach.models import FUSIONS, MODALITIES, build_multimodal_model

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 3:
        raise ValueError(f"vocab_size: expected an int >= 3, got {vocab_size!r}")
    x = _batch(batch, vocab_size)
    y = np.arange(batch) % 9
    out: list[CourseModel] = []

    def unimodal(mod: str, rnn: str | None):
        def build():
            from mmteach.features import classifier, encoder_for

            kwargs = {"rnn": rnn} if rnn else {}
            enc = encoder_for(mod, 32, vocab_size=vocab_size if mod == "text" else None, **kwargs)
            model = classifier(enc, 9)
            model(x[mod][:1])
            return model, x[mod], y

        return build

    out.append(CourseModel("image CNN", "02", unimodal("image", None)))
    for rnn in ("gru", "lstm", "simple"):
        out.append(CourseModel(f"text {'SimpleRNN' if rnn == 'simple' else rnn.upper()}", "03",
                               unimodal("text", rnn)))  # fmt: skip
    out.append(CourseModel("audio GRU", "03", unimodal("audio", None)))

    def fused(fusion: str, mode: str | None):
        def build():
            kwargs = {"weighted_mode": mode} if mode else {}
            if mode == "fixed":
                kwargs["weights"] = [1 / len(MODALITIES)] * len(MODALITIES)
            model = build_multimodal_model(MODALITIES, fusion, vocab_size=vocab_size, aux_weight=0.5,
                                           modality_dropout={"text": 0.3}, **kwargs)  # fmt: skip
            model({k: v[:1] for k, v in x.items()})
            return model, x, y

        return build

    for fusion in FUSIONS:
        modes = WEIGHTED_MODES if fusion == "weighted" else (None,)
        for mode in modes:
            label = f"fused {fusion}" + (f" ({mode})" if mode else "")
            out.append(CourseModel(label, "04-06", fused(fusion, mode)))

    import mmteach.applications as apps

    for name in apps.__all__:
        try:
            module = importlib.import_module(f"mmteach.applications.{name}")
        except ImportError:
            continue
        for builder in _APPLICATION_BUILDERS.get(name, ()):
            model = builder(module, vocab_size, batch)
            if model is not None:
                out.append(model)
    return out


def _retrieval(module, vocab_size: int, batch: int):
    if not hasattr(module, "build_dual_encoder"):
        return None

    def build():
        model = module.build_dual_encoder(vocab_size)
        rng = np.random.default_rng(0)
        x = {
            "image": rng.random((batch, 48, 48, 3), dtype=np.float32),
            "text": rng.integers(1, vocab_size, size=(batch, module.CAPTION_LENGTH)).astype("int32"),
        }
        model({k: v[:2] for k, v in x.items()})
        return model, x, None

    return CourseModel("dual encoder (retrieval)", "07", build)


def _translator(multimodal: bool):
    def make(module, vocab_size: int, batch: int):
        if not hasattr(module, "_build"):
            return None

        def build():
            n_target, src_len, tgt_len, units, img = 120, 16, 16, 64, 16
            model, _, _ = module._build(vocab_size, n_target, units, img if multimodal else 0, "dot",
                                        src_len, tgt_len)  # fmt: skip
            rng = np.random.default_rng(0)
            x = [rng.integers(1, vocab_size, size=(batch, src_len)).astype("int32")]
            if multimodal:
                x.append(rng.normal(size=(batch, img)).astype("float32"))
            x.append(rng.integers(1, n_target, size=(batch, tgt_len)).astype("int32"))
            model([v[:1] for v in x])
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            y = rng.integers(1, n_target, size=(batch, tgt_len))
            return model, x, y

        label = "translator " + ("text + image" if multimodal else "text only")
        return CourseModel(label, "08", build)

    return make


#: how to build each application's model; an application module without an entry is listed
#: by :func:`cost_table` as "not measured" so that nothing goes missing silently.
_APPLICATION_BUILDERS: dict[str, tuple] = {
    "retrieval": (_retrieval,),
    "translate": (_translator(False), _translator(True)),
}


#: application modules whose models are rows already (classify wraps build_multimodal_model)
_COVERED = {"classify"}


def cost_table(models: list[CourseModel] | None = None, timing: bool = False):
    """Parameters and multiply-adds per sample of each model, as a DataFrame.

    Columns: ``model``, ``notebook``, ``parameters``, ``MACs/sample``, ``MFLOPs/sample``
    (``2 * MACs / 1e6``). Application modules without a known builder are listed with
    empty numbers. With ``timing=True``, returns ``(costs, times)``: the second table as
    :func:`time_and_memory` makes it, from the same models (each is built once).
    """
    import pandas as pd

    models = course_models() if models is None else models
    rows, times = [], []
    for item in models:
        before = _rss_mb()
        model, x, _ = item.build()
        macs = multiply_adds(model, x)
        if timing:
            times.append(_time_row(item.name, model, x, before, 1))
        rows.append({"model": item.name, "notebook": item.notebook, "parameters": count_params(model),
                     "MACs/sample": macs, "MFLOPs/sample": round(2 * macs / 1e6, 2)})  # fmt: skip
    import importlib

    import mmteach.applications as apps

    for name in apps.__all__:
        try:
            importlib.import_module(f"mmteach.applications.{name}")
        except ImportError:
            continue
        if name not in _APPLICATION_BUILDERS and name not in _COVERED:
            rows.append({"model": f"{name} (not measured)", "notebook": "", "parameters": None,
                         "MACs/sample": None, "MFLOPs/sample": None})  # fmt: skip
    costs = pd.DataFrame(rows).astype({"parameters": "Int64", "MACs/sample": "Int64"})
    return (costs, pd.DataFrame(times)) if timing else costs


def _rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; 0 where it is not available)."""
    import os

    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, AttributeError, IndexError):
        return 0.0


def _step_seconds(model, x) -> float:
    """Seconds of one eager forward + backward pass (stand-in loss: mean square of the outputs)."""
    import tensorflow as tf

    start = time.perf_counter()
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = tf.add_n([tf.reduce_mean(tf.square(tf.cast(o, "float32"))) for o in tf.nest.flatten(out)])
    tape.gradient(loss, model.trainable_weights)
    return time.perf_counter() - start


def time_and_memory(models: list[CourseModel] | None = None, repeats: int = 1):
    """Seconds of one training step on a batch of 32 and the memory it takes, per model.

    One step = a forward and a backward pass, run eagerly (no graph tracing, so it is
    quick to measure; ``fit`` compiles the step and is faster, recurrent layers most),
    with a stand-in loss (mean square of the outputs: the cost of the backward pass
    does not depend on the loss). ``memory MB`` is the growth of the process's resident
    memory while building the model and taking the steps (0 when already reserved).
    The fastest of ``repeats`` steps after a warm-up step is kept.
    """
    import pandas as pd

    models = course_models() if models is None else models
    rows = []
    for item in models:
        before = _rss_mb()
        model, x, _ = item.build()
        rows.append(_time_row(item.name, model, x, before, repeats))
    return pd.DataFrame(rows)


def _time_row(name: str, model, x, before: float, repeats: int) -> dict:
    n = len(next(iter(x.values())) if isinstance(x, dict) else x[0] if isinstance(x, list) else x)
    peak = _rss_mb()  # no separate warm-up: multiply_adds has already run the model once
    best = float("inf")
    for _ in range(repeats):
        best = min(best, _step_seconds(model, x))
        peak = max(peak, _rss_mb())
    return {"model": name, "ms/step": round(1000 * best, 1),
            "samples/s": round(n / best), "memory MB": round(max(peak - before, 0.0), 1)}  # fmt: skip
