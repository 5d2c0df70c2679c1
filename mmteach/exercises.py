"""Checks for the exercises at the end of each notebook.

Every exercise has a solution cell (between ``### BEGIN SOLUTION`` and
``### END SOLUTION``, tagged ``solution``) followed by a cell that calls
``check_<name>(...)``. A check prints a short pass message or raises
AssertionError with a hint; it never reveals the solution.

Example
-------
>>> check_label_of("circle", "wood", 0)
Traceback (most recent call last):
...
AssertionError: label_of('circle', 'wood'): expected a different class index, got 0. Hint: ...
>>> check_label_of("circle", "wood", 1)
✓ label_of('circle', 'wood'): correct, well done!
"""

from __future__ import annotations

import numpy as np


def _passed(name: str) -> None:
    print(f"\N{CHECK MARK} {name}: correct, well done!")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _what(value) -> str:
    """A short description of a learner's value for a message: ``a str 'abc'``, ``None``, ..."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape}"
    if callable(value):
        return f"a function ({getattr(value, '__name__', type(value).__name__)})"
    text = repr(value)
    return f"a {type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _call(name: str, fn, *args):
    """Call the learner's function ``fn``; any failure of theirs becomes an AssertionError with a hint."""
    _expect(callable(fn), f"{name}: expected your function, got {_what(fn)}. Hint: pass the function "
            "itself, by its name without parentheses, not the value it returns.")  # fmt: skip
    try:
        return fn(*args)
    except NotImplementedError:
        raise AssertionError(f"{name}: your function still raises NotImplementedError. Hint: replace "
                             "`raise NotImplementedError()` with your code.") from None  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - report any failure of the learner's code
        raise AssertionError(f"{name}: your function raised {type(exc).__name__}: {exc}") from None


def _numbers(value, name: str, hint: str) -> np.ndarray:
    """``value`` as a float array, or an AssertionError saying what it was instead."""
    _expect(value is not None, f"{name}: got None. Hint: did the function forget to `return` its result?")
    _expect(not isinstance(value, (str, bytes)), f"{name}: expected numbers, got {_what(value)}. "
            f"Hint: return the numbers themselves, not text. {hint}")  # fmt: skip
    _expect(not callable(value), f"{name}: expected numbers, got {_what(value)}. Hint: call it and use "
            f"its result. {hint}")  # fmt: skip
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{name}: expected numbers, got {_what(value)}, which is not an array of "
                             f"numbers ({exc}). Hint: {hint}") from None  # fmt: skip


def _whole_number(answer, name: str, hint: str) -> int:
    """A count the learner computed, as an int, or an AssertionError saying what it was instead."""
    if isinstance(answer, str) and answer.strip().lstrip("-").isdigit():
        raise AssertionError(f"{name}: expected a number, got the text {answer!r}. Hint: write the number "
                             "without quotes.")  # fmt: skip
    _expect(not callable(answer), f"{name}: expected a number, got {_what(answer)}. Hint: compute the "
            "number (or call your function) and pass the result.")  # fmt: skip
    number = isinstance(answer, (int, np.integer, float, np.floating))
    ok = number and not isinstance(answer, (bool, np.bool_))
    _expect(ok, f"{name}: expected a whole number, got {_what(answer)}. Hint: {hint}")
    _expect(float(answer).is_integer(), f"{name}: expected a whole number, got {answer}. Hint: {hint}")
    return int(answer)


def _close(actual, expected, name: str, hint: str, atol: float = 1e-5) -> None:
    actual = _numbers(actual, name, hint)
    expected = np.asarray(expected, dtype=float)
    _expect(
        actual.shape == expected.shape,
        f"{name}: expected shape {expected.shape}, got {actual.shape}. Hint: {hint}",
    )
    _expect(
        bool(np.allclose(actual, expected, atol=atol)),
        f"{name}: values differ from the expected ones. Hint: {hint}",
    )


# --- notebook 00: setup and tour -------------------------------------------------------


def check_label_of(shape: str, material: str, answer: int) -> None:
    """Exercise 00.1: the class index of (shape, material)."""
    from mmteach.datasets import CLASS_NAMES

    name = f"label_of({shape!r}, {material!r})"
    if isinstance(answer, str):
        hint = ("that is a class name; the exercise asks for its index, a number: "
                "CLASS_NAMES.index(name)") if answer.lower() in CLASS_NAMES else (
                "the exercise asks for the class index, a number: CLASS_NAMES.index(name)")  # fmt: skip
        raise AssertionError(f"{name}: expected a class index (int), got the text {answer!r}. Hint: {hint}.")
    answer = _whole_number(answer, name, "a class index is an int from 0 to 8.")
    _expect(
        answer == CLASS_NAMES.index(f"{shape}_{material}"),
        f"{name}: expected a different class index, got {answer}. "
        "Hint: classes are ordered shape-major: shape index * 3 + material index.",
    )
    _passed(name)


def check_class_counts(counts) -> None:
    """Exercise 00.2: the number of training samples per class, as a pandas Series."""
    import pandas as pd

    from mmteach.datasets import load_shapes_world

    name = "class counts"
    _expect(not isinstance(counts, pd.DataFrame), f"{name}: expected a pandas Series, got a DataFrame. "
            "Hint: count one column, meta['label_name'], not the whole table.")  # fmt: skip
    _expect(isinstance(counts, pd.Series), f"{name}: expected a pandas Series, got {type(counts).__name__}. "
            "Hint: meta['label_name'].value_counts() returns one.")  # fmt: skip
    truth = load_shapes_world(split="train").meta["label_name"].value_counts()
    _expect(set(counts.index) == set(truth.index), f"{name}: expected one entry per class name, got "
            f"{sorted(map(str, counts.index))}. Hint: count the label_name column.")  # fmt: skip
    _expect(pd.api.types.is_numeric_dtype(counts), f"{name}: expected numbers, got values of type "
            f"{counts.dtype}. Hint: value_counts() gives the counts as integers.")  # fmt: skip
    _expect(bool((counts.reindex(truth.index) == truth).all()), f"{name}: some counts are wrong. "
            "Hint: count the training split only (meta['split'] == 'train').")  # fmt: skip
    _passed(name)


# --- notebook 01: preprocessing ------------------------------------------------------------


def check_minmax_column(scaled, column) -> None:
    """Exercise 01.1: ``column`` min-max scaled to [0, 1]."""
    x = np.asarray(column, dtype=float)
    name = "min-max scaling"
    _expect(np.all(np.isfinite(x)), f"{name}: the original column has missing values; clean it first.")
    _close(
        scaled,
        (x - x.min()) / (x.max() - x.min()),
        name,
        "subtract the column's minimum, then divide by (maximum - minimum).",
    )
    _passed(name)


def check_duplicate_ids(ids) -> None:
    """Exercise 01.2: ids of the raw rows that are exact copies of an earlier row."""
    import pandas as pd

    from mmteach.datasets import load_raw_metadata

    raw = load_raw_metadata()
    expected = sorted(raw.loc[raw.duplicated(keep="first"), "id"])
    name = "duplicate rows"
    _expect(not isinstance(ids, str), f"{name}: expected a list of ids, got a single string.")
    _expect(not isinstance(ids, pd.DataFrame), f"{name}: expected the ids, got a whole DataFrame. "
            "Hint: take its 'id' column.")  # fmt: skip
    _expect(not callable(ids) and np.iterable(ids), f"{name}: expected a list of ids, got {_what(ids)}.")
    given = sorted(str(i) for i in ids)
    _expect(
        len(given) == len(expected),
        f"{name}: expected {len(expected)} extra copies, got {len(given)}. "
        "Hint: DataFrame.duplicated(keep='first') marks every copy after the first.",
    )
    _expect(given == expected, f"{name}: right count, wrong ids. Hint: compare whole rows, not one column.")
    _passed(name)


PHONE_EXAMPLES = {
    "positive": [
        "call 555-0142-7788",
        "phone +1 555 0100 2345",
        "ring (030) 1234 5678 today",
        "tel 0171-1234567",
    ],
    "negative": ["a red box", "3 small circles", "radius 7.5 px", "sample sw_00012", "made in 2024"],
}


def check_phone_regex(pattern) -> None:
    """Exercise 01.3: a regular expression that finds phone numbers (and nothing else)."""
    import re

    name = "phone regex"
    _expect(isinstance(pattern, (str, re.Pattern)), f"{name}: expected a regular expression (a str such "
            f"as r'\\d+'), got {_what(pattern)}.")  # fmt: skip
    try:
        regex = re.compile(pattern)
    except (TypeError, re.error) as exc:
        raise AssertionError(f"{name}: not a valid regular expression ({exc}).") from None
    for text in PHONE_EXAMPLES["positive"]:
        out = regex.sub("[phone]", text)
        _expect(
            "[phone]" in out and not any(c.isdigit() for c in out),
            f"{name}: {text!r} became {out!r}; every digit of the number should be replaced. "
            "Hint: allow spaces, dashes, brackets and a leading + between the digits.",
        )
    for text in PHONE_EXAMPLES["negative"]:
        out = regex.sub("[phone]", text)
        _expect(
            out == text,
            f"{name}: {text!r} became {out!r}, but it has no phone number. "
            "Hint: require at least 8 characters of digits and separators.",
        )
    _passed(name)


# --- notebook 02: image features with a CNN ---------------------------------------------


def check_conv2d_single(conv_fn) -> None:
    """Exercise 02.1: ``conv_fn(image, kernel)`` - 'valid' 2-D convolution of one grey image."""
    from mmteach.features import conv2d

    name = "conv2d (one channel)"
    rng = np.random.default_rng(2)
    for shape, kshape in [((5, 5), (3, 3)), ((6, 4), (2, 3)), ((7, 9), (1, 1))]:
        image, kernel = rng.normal(size=shape), rng.normal(size=kshape)
        out = _call(name, conv_fn, image, kernel)
        _close(
            out,
            conv2d(image, kernel),
            f"{name} on a {shape} image with a {kshape} kernel",
            "output is (H - kh + 1, W - kw + 1); out[i, j] = sum(image[i:i+kh, j:j+kw] * kernel), "
            "without flipping the kernel.",
        )
    _passed(name)


def check_conv_parameters(answer: int) -> None:
    """Exercise 02.2: parameters of ``Conv2D(32, 3)`` on 16-channel input (kernel + bias)."""
    name = "Conv2D(32, 3) on 16 channels"
    answer = _whole_number(answer, name, "a parameter count is a whole number.")
    _expect(
        answer == 3 * 3 * 16 * 32 + 32,
        f"{name}: expected a different number of parameters, got {answer}. "
        "Hint: each of the 32 filters is 3 x 3 x (input channels) weights plus one bias.",
    )
    _passed(name)


# --- notebook 03: text and audio features with RNNs -------------------------------------


def check_masked_rnn(rnn_fn) -> None:
    """Exercise 03.1: ``rnn_fn(x, mask, kernel, recurrent_kernel, bias)`` -> last state.

    ``x`` is ``(batch, steps, input_dim)``, ``mask`` ``(batch, steps)`` of 0/1; a
    masked step keeps the previous state (as Keras does with ``mask_zero=True``).
    """
    from mmteach.features import rnn_step

    name = "masked RNN"
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 6, 4))
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    kernel, recurrent, bias = rng.normal(size=(4, 5)), rng.normal(size=(5, 5)) * 0.5, rng.normal(size=5)
    h = np.zeros((3, 5))
    for t in range(x.shape[1]):
        keep = mask[:, t : t + 1].astype(bool)
        h = np.where(keep, rnn_step(x[:, t], h, kernel, recurrent, bias), h)
    out = _call(name, rnn_fn, x, mask, kernel, recurrent, bias)
    _close(
        out,
        h,
        name,
        "start from h = 0; at each step compute the new state, but keep the old one where mask is 0. "
        "A fully masked row stays all zeros.",
    )
    _passed(name)


def check_lstm_parameters(answer: int) -> None:
    """Exercise 03.2: parameters of ``LSTM(64)`` on 32-dimensional inputs."""
    from mmteach.features import rnn_parameter_count

    name = "LSTM(64) on 32 inputs"
    answer = _whole_number(answer, name, "a parameter count is a whole number.")
    _expect(
        answer == rnn_parameter_count("lstm", 32, 64),
        f"{name}: expected a different number of parameters, got {answer}. "
        "Hint: 4 gates, each with an input kernel (32 x 64), a recurrent kernel (64 x 64) and a bias (64).",
    )
    _passed(name)


# --- notebook 04: fusion ----------------------------------------------------------------


def check_parallel_fusion(fusion_fn) -> None:
    """Exercise 04.1: parallel fusion in numpy - concatenate the modality vectors."""
    name = "parallel_fusion"
    rng = np.random.default_rng(4)
    feats = [rng.normal(size=(3, 2)), rng.normal(size=(3, 4)), rng.normal(size=(3, 1))]
    hint = "put the vectors side by side: np.concatenate along the feature axis (axis=1)."
    _close(_call(name, fusion_fn, [f.copy() for f in feats]), np.concatenate(feats, axis=1), name, hint)
    _passed(name)


def check_weighted_sum(fusion_fn) -> None:
    """Exercise 04.2: fixed-weight fusion of already projected vectors, sum_i w_i * h_i."""
    name = "weighted_sum"
    rng = np.random.default_rng(5)
    hs = [rng.normal(size=(3, 4)) for _ in range(3)]
    w = [0.5, 0.3, 0.2]
    expected = sum(wi * h for wi, h in zip(w, hs, strict=True))
    hint = "multiply each modality's (batch, units) array by its weight and add them up."
    _close(_call(name, fusion_fn, [h.copy() for h in hs], list(w)), expected, name, hint)
    _passed(name)


def check_robustness_auc(auc_fn) -> None:
    """Exercise 04.3: area under an accuracy-vs-noise curve, divided by the range of levels."""
    name = "robustness_auc"
    levels, accs = [0.0, 0.2, 0.6, 1.0], [0.9, 0.8, 0.5, 0.3]
    x, y = np.asarray(levels), np.asarray(accs)
    expected = float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))
    hint = "trapezoids: sum of (a_k + a_k+1) / 2 * (level_k+1 - level_k), then divide by the level range."
    _close(_call(name, auc_fn, list(levels), list(accs)), expected, name, hint)
    _passed(name)


# --- notebook 05: training and cross-validation -----------------------------------------


def check_logistic_gradient(grad_fn) -> None:
    """Exercise 05.1: ``grad_fn(w, X, y)`` = gradient of the mean binary cross-entropy."""
    name = "logistic_gradient"
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3))
    y = (rng.random(40) < 0.5).astype(float)
    w = rng.normal(size=3)
    expected = x.T @ (1 / (1 + np.exp(-x @ w)) - y) / len(y)
    actual = _call(name, grad_fn, w.copy(), x.copy(), y.copy())
    _close(actual, expected, name, "sigmoid(X @ w) - y, times X, averaged over the samples (divide by n).")
    _passed(name)


def check_momentum_step(step_fn) -> None:
    """Exercise 05.2: one SGD-with-momentum step in Keras' convention, returning (w, v)."""
    name = "momentum_step"
    w, v, grad = np.array([1.0, -2.0]), np.array([0.5, 0.1]), np.array([0.2, -0.4])
    result = _call(name, step_fn, w.copy(), v.copy(), grad.copy(), 0.1, 0.9)
    _expect(
        isinstance(result, (tuple, list)) and len(result) == 2,
        f"{name}: expected a pair (new_w, new_v), got {_what(result)}. Hint: end with `return w, v`.",
    )
    v_new = 0.9 * v - 0.1 * grad
    hint = "first v = beta * v - lr * grad, then w = w + v (with the new v)."
    _close(result[1], v_new, f"{name} (velocity)", hint)
    _close(result[0], w + v_new, f"{name} (weights)", hint)
    _passed(name)


def check_cv_summary(table, mean: float, std: float) -> None:
    """Exercise 05.3: mean and (sample) standard deviation of the per-fold accuracy."""
    name = "cv_summary"
    acc = np.asarray(table["accuracy"], dtype=float)
    _close(mean, acc.mean(), f"{name} (mean)", "average the 'accuracy' column over the folds.")
    hint = "pandas' .std() divides by n - 1 (ddof=1); np.std divides by n unless you pass ddof=1."
    _close(std, acc.std(ddof=1), f"{name} (std)", hint)
    _passed(name)


# --- notebook 08: multimodal image classification -----------------------------------------


def check_f1_scores(f1, y_true, y_pred) -> None:
    """Exercise 06.1: per-class F1 = harmonic mean of precision and recall (0 when both are 0)."""
    from mmteach.applications.classify import precision_recall

    name = "f1_scores"
    table = precision_recall(y_true, y_pred)
    p, r = table["precision"].to_numpy(), table["recall"].to_numpy()
    expected = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)
    _close(_numbers(f1, name, "one F1 value per class").ravel(), expected, name,
           "F1 = 2 * precision * recall / (precision + recall), one value per class.")  # fmt: skip
    _passed(name)


def check_most_needed_modality(answer: str, ablation) -> None:
    """Exercise 06.2: the modality whose blanking costs the most accuracy."""
    name = "most_needed_modality"
    drops = {k.removeprefix("no "): ablation["all"] - v for k, v in ablation.items() if k != "all"}
    _expect(isinstance(answer, str), f"{name}: expected a modality name (str), got {_what(answer)}. "
            f"Hint: one of {sorted(drops)}.")  # fmt: skip
    _expect(answer in drops, f"{name}: {answer!r} is not a modality name. Hint: write one of "
            f"{sorted(drops)} exactly (lowercase, without 'no ').")  # fmt: skip
    _expect(
        answer == max(drops, key=drops.get),
        f"{name}: {answer!r} is not the modality whose loss hurts most. "
        "Hint: compare ablation['all'] with each 'no <modality>' row; the biggest drop wins.",
    )
    _passed(name)


# --- notebook 09: semantic understanding (retrieval) --------------------------------------


def check_recall_at_k(recall_fn) -> None:
    """Exercise 07.1: ``recall_fn(similarity, k)``, the match of query i being item i."""
    from mmteach.applications.retrieval import recall_at_k

    name = "recall_at_k"
    rng = np.random.default_rng(7)
    s = rng.normal(size=(30, 30)) + 1.5 * np.eye(30)
    for k in (1, 3, 10):
        _close(_call(name, recall_fn, s.copy(), k), recall_at_k(s, k), f"{name} (k={k})",
               "for each row count the items scoring higher than the diagonal; "
               "the query is a hit when that count is < k. Average the hits over rows.")  # fmt: skip
    _passed(name)


def check_info_nce(loss_fn) -> None:
    """Exercise 07.2: ``loss_fn(image_emb, text_emb, temperature)``, the symmetric InfoNCE loss."""
    from mmteach.applications.retrieval import info_nce_numpy

    name = "info_nce"
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    for t in (0.1, 1.0):
        got = _call(name, loss_fn, a.copy(), b.copy(), t)
        _close(got, info_nce_numpy(a, b, t), f"{name} (temperature={t})",
               "logits = a @ b.T / temperature; average the cross-entropy of the rows (image->text) "
               "and of the columns (text->image), the right answer being the diagonal.")  # fmt: skip
    _passed(name)


# --- notebook 10: machine translation ------------------------------------------------------


def check_attention_weights(weights_fn) -> None:
    """Exercise 08.1: ``weights_fn(query, keys, mask)``, dot-product attention weights of one query."""
    from mmteach.applications.translate import attention_numpy

    name = "attention weights"
    rng = np.random.default_rng(81)
    q, k = rng.normal(size=4), rng.normal(size=(6, 4))
    for mask in (np.ones(6, bool), np.array([1, 1, 1, 1, 0, 0], bool)):
        _, expected = attention_numpy(q[None], k, mask=mask)
        _close(_call(name, weights_fn, q.copy(), k.copy(), mask.copy()), expected[0], name,
               "scores = keys @ query; masked keys get a very negative score; then a softmax "
               "(subtract the max first), so the weights are >= 0 and sum to 1.")  # fmt: skip
    _passed(name)


def check_ngram_precision(precision_fn) -> None:
    """Exercise 08.2: ``precision_fn(hypothesis, reference, n)``, BLEU's clipped n-gram precision."""
    from mmteach.applications.translate import ngram_precision

    name = "n-gram precision"
    cases = [("一个红色的圆形", "一个红色的圆形", 2), ("红红红", "红色", 1),
             ("一个很轻的方块", "一个浅色的方块", 2), ("的的的的", "一个的的", 1),
             ("圆形", "一个红色的圆形", 3)]  # fmt: skip
    for hyp, ref, n in cases:
        got = _call(name, precision_fn, hyp, ref, n)
        _close(got, ngram_precision(hyp, ref, n), f"{name} ({hyp!r}, n={n})",
               "count each hypothesis n-gram at most as often as it occurs in the reference "
               "(clipping), divide by the number of hypothesis n-grams; no n-grams -> 0.")  # fmt: skip
    _passed(name)


# --- notebook 13: challenges and FAQ ----------------------------------------------------


def check_conv_macs(answer: int) -> None:
    """Exercise 10.1: multiply-adds per sample of ``Conv2D(16, 3, padding="same")`` on 32x32x3."""
    name = "Conv2D(16, 3) MACs on 32x32x3"
    answer = _whole_number(answer, name, "a count of multiply-adds is a whole number.")
    _expect(
        answer == 32 * 32 * 3 * 3 * 3 * 16,
        f"{name}: expected a different number of multiply-adds, got {answer}. "
        "Hint: every output pixel (32 x 32 with 'same' padding) of every filter (16) needs "
        "3 x 3 x 3 multiply-adds; the bias is an add only and is not counted.",
    )
    _passed(name)


def check_flip_materials(flip_fn) -> None:
    """Exercise 13.2: ``flip_fn(labels, fraction, seed)`` -> Shapes World labels with *material* noise.

    A listener who mixes up sounds: exactly ``round(fraction * n)`` labels, at random
    positions, keep their shape but get a *different* material (``label = 3 * shape +
    material``); the others stay; the input array is not modified; the same seed gives
    the same labels.
    """
    name = "flip_materials"
    labels = np.arange(240) % 9
    for fraction in (0.0, 0.25, 0.5):
        original = labels.copy()
        out = _call(name, flip_fn, labels, fraction, 0)
        _expect(np.array_equal(labels, original), f"{name}: the input labels were changed in place. "
                "Hint: work on a copy, np.array(labels, copy=True).")  # fmt: skip
        out = _numbers(out, name, "return an array of labels, one per input label.")
        _expect(out.shape == labels.shape, f"{name}: expected shape {labels.shape}, got {out.shape}.")
        changed = out != labels
        k = round(fraction * len(labels))
        _expect(
            int(changed.sum()) == k,
            f"{name}: with fraction={fraction}, expected {k} changed labels, got {int(changed.sum())}. "
            "Hint: pick round(fraction * n) positions without replacement, and give each a material "
            "other than its own.",
        )
        _expect(bool(np.all((out >= 0) & (out < 9) & (out == np.round(out)))),
                f"{name}: some labels are not class indices 0..8.")  # fmt: skip
        out = out.astype(int)
        _expect(bool(np.all(out // 3 == labels // 3)), f"{name}: some labels changed their shape. Hint: "
                "the shape is label // 3 and must stay; change only the material, label % 3.")  # fmt: skip
        if k:
            _expect(
                not np.array_equal(np.flatnonzero(changed), np.arange(k)),
                f"{name}: the first {k} labels changed. Hint: choose the positions at random "
                "(rng.choice(n, size=k, replace=False)).",
            )
            again = _numbers(_call(name, flip_fn, labels, fraction, 0), name, "return an array of labels.")
            _expect(np.array_equal(again, out), f"{name}: the same seed gave different labels. Hint: make "
                    "the generator from the seed, rng = np.random.default_rng(seed).")  # fmt: skip
    _passed(name)


# --- notebook 11: a virtual assistant (visual question answering) ---------------------------


def check_soft_count(count_fn) -> None:
    """Exercise 09.1: ``count_fn(gates)``, gates ``(n, 9)`` in [0, 1] -> count answers ("0".."4")."""
    name = "soft count"
    rng = np.random.default_rng(91)
    gates = np.clip(np.round(rng.random((6, 9)) - 0.2) + rng.normal(0, 0.1, (6, 9)), 0, 1)
    gates[0] = 0.02
    gates[1] = 1.0  # nine objects would be 9: answers stop at "4"
    expected = [str(int(np.clip(np.round(g.sum()), 0, 4))) for g in gates]
    got = _call(name, count_fn, gates.copy())
    _expect(got is not None and not isinstance(got, str) and np.iterable(got), f"{name}: expected one "
            f"answer per row, got {_what(got)}. Hint: return a list such as ['0', '3', ...].")  # fmt: skip
    answers = [str(x) for x in np.asarray(got, dtype=object).ravel()]
    _expect(
        answers == expected,
        f"{name}: expected {expected}, got {answers}. Hint: sum the gates of each "
        "row, round to the nearest whole number, clip to 0..4, answer as a string.",
    )
    _passed(name)


def check_expected_column(column_fn) -> None:
    """Exercise 09.2: ``column_fn(attention)``, attention ``(n, 9)`` over cells -> columns ``(n,)``."""
    name = "expected column"
    rng = np.random.default_rng(92)
    logits = rng.normal(0, 3, (5, 9))
    att = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = att @ (np.arange(9) % 3)
    hint = "cell k (reading order) is in column k % 3; weight each cell's column by its attention and sum."
    _close(_call(name, column_fn, att.copy()), expected, name, hint)
    _passed(name)


# --- real data: spoken and written digits ---


def check_pad_or_trim(pad_fn) -> None:
    """Exercise: ``pad_fn(waveforms, n)`` -> ``(len(waveforms), n)`` float32, zeros after, long ones cut."""
    name = "pad_or_trim"
    rng = np.random.default_rng(111)
    waves = [rng.normal(size=k).astype(np.float32) for k in (3, 7, 5, 12)]
    expected = np.zeros((4, 7), np.float32)
    for i, w in enumerate(waves):
        expected[i, : min(len(w), 7)] = w[:7]
    hint = "start from np.zeros((len(waveforms), n)) and copy the first min(len(w), n) samples of each row."
    _close(_call(name, pad_fn, [w.copy() for w in waves], 7), expected, name, hint)
    _passed(name)


def check_noise_std(std_fn) -> None:
    """Exercise: ``std_fn(waveform, snr_db)`` -> the noise standard deviation giving that SNR."""
    name = "noise std"
    wave = np.sin(np.arange(800) * 0.3) * 0.5
    hint = "P_signal = mean(waveform**2); P_noise = P_signal / 10**(snr_db / 10); the std is sqrt(P_noise)."
    for snr in (20.0, 0.0, -6.0):
        expected = float(np.sqrt(np.mean(wave**2) / 10 ** (snr / 10)))
        _close(_call(name, std_fn, wave.copy(), snr), expected, f"{name} at {snr:g} dB", hint)
    _passed(name)


def check_speaker_folds(folds_fn) -> None:
    """Exercise: ``folds_fn(speakers)`` -> ``[(speaker, train_index, test_index), ...]``, one per speaker."""
    name = "speaker folds"
    speakers = np.array(["theo", "ann", "theo", "bob", "ann", "bob", "bob"])
    folds = _call(name, folds_fn, speakers.copy())
    _expect(folds is not None and not isinstance(folds, str) and np.iterable(folds), f"{name}: expected a "
            f"list of (speaker, train_index, test_index), got {_what(folds)}.")  # fmt: skip
    folds = list(folds)
    _expect(
        all(isinstance(f, (tuple, list)) and len(f) == 3 for f in folds),
        f"{name}: expected each fold to be a triple (speaker, train_index, test_index). "
        "Hint: append (speaker, train, test).",
    )
    _expect(
        [f[0] for f in folds] == ["ann", "bob", "theo"],
        f"{name}: expected one fold per speaker, sorted by name, got {[f[0] for f in folds]}. "
        "Hint: loop over sorted(set(speakers)).",
    )
    for speaker, train, test in folds:
        train, test = np.sort(np.asarray(train)), np.sort(np.asarray(test))
        _expect(
            np.array_equal(test, np.flatnonzero(speakers == speaker)),
            f"{name}: the test part of fold {speaker!r} must hold exactly that speaker's recordings.",
        )
        _expect(
            np.array_equal(train, np.flatnonzero(speakers != speaker)),
            f"{name}: the training part of fold {speaker!r} must hold every other recording, and no "
            "recording of the test speaker (that would leak the voice).",
        )
    _passed(name)


# --- attention and transformers ---


def check_masked_attention(attention_fn) -> None:
    """Exercise: ``attention_fn(q, k, v, mask)`` -> masked scaled dot-product attention output."""
    from mmteach.attention_numpy import scaled_dot_product_attention

    name = "masked attention"
    rng = np.random.default_rng(61)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 2))
    mask = np.array([[True, True, True, False, False], [True, True, True, True, True]])
    expected = scaled_dot_product_attention(q, k, v, mask=mask)[0]
    got = _call(name, attention_fn, q.copy(), k.copy(), v.copy(), mask.copy())
    got = got[0] if isinstance(got, tuple) else got
    hint = ("scores = q @ k^T / sqrt(d); set the scores of padding keys (mask False) to a large negative "
            "number; softmax over the keys; multiply by v.")  # fmt: skip
    _close(got, expected, name, hint)
    _passed(name)


def check_mha_parameters(answer: int) -> None:
    """Exercise: parameters of ``MultiHeadAttention(num_heads=4, key_dim=8)`` on 32-wide tokens."""
    from mmteach.attention_numpy import mha_parameter_count

    name = "multi-head attention parameters"
    expected = mha_parameter_count(32, 4, 8)
    answer = _whole_number(answer, name, "a parameter count is a whole number.")
    _expect(
        answer == expected,
        f"{name}: expected a different number, got {answer}. Hint: query, key and value each have a "
        "(32, 4, 8) kernel and a (4, 8) bias; the output projection a (4, 8, 32) kernel and a (32,) bias.",
    )
    _passed(name)


def check_patchify(patchify_fn) -> None:
    """Exercise: ``patchify_fn(images, p)`` -> ``(n, patches, p*p*C)`` in reading order."""
    from mmteach.attention_numpy import patchify

    name = "patchify"
    images = np.random.default_rng(62).random((2, 12, 12, 3))
    expected = patchify(images, 4)
    hint = ("reshape to (n, H/p, p, W/p, p, C), move the two patch-grid axes in front of the two "
            "in-patch axes (transpose 0, 1, 3, 2, 4, 5), then reshape to (n, patches, p*p*C).")  # fmt: skip
    _close(_call(name, patchify_fn, images.copy(), 4), expected, name, hint)
    _passed(name)


def check_training_compute(compute_fn) -> None:
    """Exercise: ``compute_fn(macs_per_sample, samples, epochs)`` -> multiply-adds of a training run."""
    name = "training compute"
    cases = [(1000, 50, 2), (633952, 2057, 3), (1, 1, 1)]
    for macs, samples, epochs in cases:
        expected = 3 * macs * samples * epochs
        got = _whole_number(_call(name, compute_fn, macs, samples, epochs), name,
                            "multiply-adds are counted in whole numbers.")  # fmt: skip
        _expect(
            got == expected,
            f"{name}: for {macs} MACs per sample, {samples} samples and {epochs} epochs expected "
            f"{expected}, got {got}. Hint: forward + backward is about 3 forward passes, for every "
            "sample of every epoch.",
        )
    _passed(name)
