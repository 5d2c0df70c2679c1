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

from mmteach.validation import check_bool, check_instance, check_int, describe

__all__ = ["CourseModel", "course_models", "cost_table", "multiply_adds", "time_and_memory"]


def _shape(layer, seen: dict[int, object]) -> tuple | list | None:
    """The input shape ``layer`` saw in the recorded call, else its input's shape in the model's graph."""
    if id(layer) in seen:
        return seen[id(layer)]
    try:
        given = layer.input  # public, for a layer called once in a functional graph
    except (AttributeError, ValueError):
        return None
    if isinstance(given, list | tuple):
        return [tuple(x.shape) for x in given]
    return tuple(given.shape) if hasattr(given, "shape") else None


def _sublayers(layer) -> list:
    """The layers ``layer`` holds directly, through public Keras API and public attributes.

    A model lists them in ``layers``; a custom layer keeps its sublayers as attributes
    (``self.projection = Dense(...)``, ``self.blocks = [...]``), each a layer or a list,
    tuple or dict of layers.
    """
    from keras import Model, layers

    if isinstance(layer, Model):
        return list(layer.layers)
    if isinstance(layer, layers.MultiHeadAttention):  # its projections, through the public properties
        return [layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense]
    found = []
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        items = (
            value.values()
            if isinstance(value, dict)
            else value
            if isinstance(value, list | tuple)
            else [value]
        )
        found += [x for x in items if isinstance(x, layers.Layer) and x is not layer]
    return found


def _all_sublayers(layer) -> list:
    """Every layer inside ``layer``, depth first, each once."""
    out, seen, stack = [], {id(layer)}, list(reversed(_sublayers(layer)))
    while stack:
        sub = stack.pop()
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        out.append(sub)
        stack += reversed(_sublayers(sub))
    return out


def _prod(dims) -> int:
    return int(math.prod(int(d) for d in dims if d is not None))


def _layer_macs(layer, seen: dict[int, object]) -> int | None:
    """MACs of one layer per sample, or None when the layer is a container to descend into."""
    from keras import layers

    shape = _shape(layer, seen)
    if isinstance(layer, layers.Embedding):
        return 0  # a table look-up
    if isinstance(layer, layers.Bidirectional):
        return sum(_layer_macs(x, seen) or 0 for x in (layer.forward_layer, layer.backward_layer))
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
        q, k = _shape(layer.query_dense, seen), _shape(layer.key_dense, seen)
        t = _prod(q[1:2]) if q is not None else 1
        s = _prod(k[1:2]) if k is not None else 1
        size = {name: int(np.prod(getattr(layer, name).kernel.shape))
                for name in ("query_dense", "key_dense", "value_dense", "output_dense")}  # fmt: skip
        projections = t * (size["query_dense"] + size["output_dense"])
        projections += s * (size["key_dense"] + size["value_dense"])
        return projections + 2 * t * s * layer.num_heads * layer.key_dim
    if isinstance(layer, layers.Attention | layers.AdditiveAttention) and shape is not None:
        query, value = shape[0], shape[1]
        return 2 * _prod(query[1:2]) * _prod(value[1:2]) * int(query[-1])
    if _sublayers(layer):
        return None
    # any other layer with weights: each weight matrix used once per sample
    return sum(int(np.prod(w.shape)) for w in layer.weights if len(w.shape) >= 2 and "bias" not in w.name)


def _record_shapes(model, inputs) -> dict[int, object]:
    """Call ``model`` on ``inputs`` once and return ``{id(layer): input shape}`` for its layers.

    Sequence lengths are often ``None`` in a model's declared shapes; the real call
    tells how many time steps a recurrent layer runs. Only this model's own layers
    are instrumented, for the duration of the call (their ``call`` is wrapped on the
    instance and restored afterwards); Keras itself is left alone.
    """
    seen: dict[int, object] = {}

    def shape_of(x):
        return tuple(x.shape) if hasattr(x, "shape") else x

    def recorder(layer, call):
        def recording(*args, **kwargs):
            if args:
                first = args[0]
                if isinstance(first, list | tuple):
                    seen.setdefault(id(layer), [shape_of(x) for x in first])
                elif not isinstance(first, dict):
                    seen.setdefault(id(layer), shape_of(first))
            return call(*args, **kwargs)

        return recording

    patched = [lay for lay in _all_sublayers(model) if "call" not in vars(lay)]
    for lay in patched:
        object.__setattr__(lay, "call", recorder(lay, lay.call))
    try:
        model(inputs)
    finally:
        for lay in patched:
            object.__delattr__(lay, "call")
    return seen


def _placeholder_batch(model):
    """One sample in the shapes a functional model declares (unknown lengths: 1), or None.

    Floats are zeros; integer inputs (token ids) are ones, a real token rather than padding.
    """
    try:
        declared = model.inputs
    except (AttributeError, ValueError):
        return None
    if not declared:
        return None

    def zeros(t):
        shape, dtype = [1 if d is None else int(d) for d in t.shape], str(t.dtype)
        return np.ones(shape, dtype) if "int" in dtype else np.zeros(shape, dtype)

    names = [t.name for t in declared]
    structure = getattr(model, "input", None)
    if isinstance(structure, dict):
        return {name: zeros(t) for name, t in zip(names, declared, strict=True)}
    return [zeros(t) for t in declared] if len(declared) > 1 else zeros(declared[0])


def _one(x):
    if isinstance(x, dict):
        return {k: v[:1] for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [v[:1] for v in x]
    return x[:1]


def multiply_adds(model, inputs=None) -> int:
    """Multiply-adds per sample of a built Keras model (forward pass, weight layers).

    ``inputs`` (a batch the model accepts) fills in sequence lengths the model leaves
    open (``None``); without it, each length the model leaves open counts as 1 (one
    word, one frame), so a recurrent layer of unknown length counts one step.

    Parameters
    ----------
    model : keras.Model or keras.layers.Layer
        A built model (called once, or with declared inputs).
    inputs : array, list or dict of arrays, optional
        A batch the model accepts (only its first sample is used).

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
    if inputs is not None and not isinstance(inputs, dict | list | tuple | np.ndarray):
        expected = "a batch (an array, a list or a dict of arrays)"
        raise TypeError(f"inputs: expected {expected}, got {describe(inputs)}")
    if inputs is None:
        inputs = _placeholder_batch(model)
    shapes = _record_shapes(model, _one(inputs)) if inputs is not None else {}
    total, seen = 0, set()

    def visit(layer) -> None:
        nonlocal total
        if id(layer) in seen:
            return
        seen.add(id(layer))
        macs = _layer_macs(layer, shapes)
        if macs is not None:
            total += macs
            return
        for sub in _sublayers(layer):
            visit(sub)

    for sub in _sublayers(model):
        visit(sub)
    return int(total)


def count_params(model) -> int:
    """Trainable parameters (numbers the optimiser changes); see :func:`mmteach.models.count_params`.

    Parameters
    ----------
    model : keras.Model
        A built model.
    """
    from mmteach.models import count_params as trainable_parameters

    return trainable_parameters(model)


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


# Size, on purpose: one builder per model of the course, a flat list to read next to the notebooks.
def course_models(vocab_size: int = 114, batch: int = 32) -> list[CourseModel]:
    """Every model the course builds, as builders (nothing is built or trained here).

    Rows come from the package: one unimodal classifier per modality and text RNN
    kind (notebooks 02-03), one fused model per fusion method and weighting mode
    (04-06), then every application module of :mod:`mmteach.applications` that can
    be imported and that this function knows how to build (07 onwards).

    Parameters
    ----------
    vocab_size : int
        Vocabulary of the text models.
    batch : int
        Samples in each builder's example batch.

    Example
    -------
    >>> [m.name for m in course_models()][:3]  # doctest: +SKIP
    ['image CNN', 'text GRU', 'text LSTM']
    """
    import importlib

    from mmteach.constants import FUSIONS, MODALITIES, RNN_KINDS, WEIGHTED_MODES
    from mmteach.models import build_multimodal_model

    vocab_size = check_int("vocab_size", vocab_size, min_value=3)
    batch = check_int("batch", batch, min_value=1)
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
    for rnn in sorted(RNN_KINDS):  # gru, lstm, simple
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
        if name in _COVERED:
            continue
        if name not in _APPLICATION_BUILDERS:
            raise LookupError(
                f"mmteach.compute: no builder for the application {name!r}; add one to _APPLICATION_BUILDERS "
                "(or to _COVERED when its model is a row already)"
            )
        out.extend(builder(module, vocab_size, batch) for builder in _APPLICATION_BUILDERS[name])
    return out


def _retrieval(module, vocab_size: int, batch: int):
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
        def build():
            n_target, src_len, tgt_len, units, img = 120, 16, 16, 64, 16
            model, _, _ = module.build_translator_models(
                vocab_size, n_target, units, img if multimodal else 0, "dot", src_len, tgt_len
            )
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


def _assistant(module, vocab_size: int, batch: int):
    def build():
        from mmteach.scenes import ANSWERS, SCENE_SIZE

        model = module.build_assistant_model(vocab_size)
        rng = np.random.default_rng(0)
        x = [rng.random((batch, SCENE_SIZE, SCENE_SIZE, 3), dtype=np.float32),
             rng.integers(1, vocab_size, size=(batch, module.QUESTION_LENGTH)).astype("int32")]  # fmt: skip
        model([v[:1] for v in x])
        return model, x, rng.integers(0, len(ANSWERS), size=batch)

    return CourseModel("assistant (grid cells + question)", "09", build)


#: how to build each application's model; :func:`course_models` raises for an application
#: module without an entry (and not in ``_COVERED``), so that no row goes missing silently.
_APPLICATION_BUILDERS: dict[str, tuple] = {
    "retrieval": (_retrieval,),
    "translate": (_translator(False), _translator(True)),
    "assistant": (_assistant,),
}


#: application modules whose models are rows already (classify wraps build_multimodal_model)
_COVERED = {"classify"}


def _check_models(models) -> list[CourseModel]:
    if isinstance(models, CourseModel) or not isinstance(models, list | tuple):
        expected = "a list of CourseModel (see course_models())"
        raise TypeError(f"models: expected {expected}, got {describe(models)}")
    for i, item in enumerate(models):
        check_instance(f"models[{i}]", item, CourseModel)
    return list(models)


def cost_table(models: list[CourseModel] | None = None, timing: bool = False):
    """Parameters and multiply-adds per sample of each model, as a DataFrame.

    Columns: ``model``, ``notebook``, ``parameters``, ``MACs/sample``, ``MFLOPs/sample``
    (``2 * MACs / 1e6``). With ``timing=True``, returns ``(costs, times)``: the second table as
    :func:`time_and_memory` makes it, from the same models (each is built once).

    Parameters
    ----------
    models : list of CourseModel, optional
        Default :func:`course_models`.
    timing : bool
        Also time one training step of each model.
    """
    import pandas as pd

    timing = check_bool("timing", timing)
    models = course_models() if models is None else _check_models(models)
    rows, times = [], []
    for item in models:
        before = _rss_mb()
        model, x, _ = item.build()
        macs = multiply_adds(model, x)
        if timing:
            times.append(_time_row(item.name, model, x, before, 1))
        rows.append({"model": item.name, "notebook": item.notebook, "parameters": count_params(model),
                     "MACs/sample": macs, "MFLOPs/sample": round(2 * macs / 1e6, 2)})  # fmt: skip
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

    Parameters
    ----------
    models : list of CourseModel, optional
        Default :func:`course_models`.
    repeats : int
        Training steps timed per model (the fastest counts).
    """
    import pandas as pd

    repeats = check_int("repeats", repeats, min_value=1)
    models = course_models() if models is None else _check_models(models)
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
