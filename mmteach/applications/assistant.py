"""A visual question answering assistant for Shapes World scenes (notebook 09).

The model reads a 48x48 scene and a question and picks one of the 14 answers of
:data:`mmteach.scenes.ANSWERS`:

* a CNN turns the scene into a 3x3 grid of *cell* features (one per grid cell,
  where the objects sit), each with its row and column attached;
* a GRU reads the question into a vector ``q``;
* **FiLM** (feature-wise linear modulation): ``q`` scales and shifts every cell's
  features, so the question decides what the cells look for;
* **question-driven gates**: each cell gets a gate in [0, 1] ("does this cell
  matter for the question?"); the gated cells are *summed*, so that a count is a
  sum of gates; two such glimpses (for "A left of B");
* the glimpses and ``q`` are fused with :class:`mmteach.fusion.ParallelFusion`
  and an answer classifier follows.

:class:`Assistant` wraps a trained model: :meth:`Assistant.ask` answers with a
confidence, and says "I can't answer that" with the reason when the question has
words it never saw or is not one of the question types it was trained on.

Example
-------
>>> question_type("how many circles are there?")
'count'
>>> question_type("why is the sky blue?") is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmteach import scenes as _scenes
from mmteach.preprocessing import build_vocabulary, encode_texts, tokenize

__all__ = [
    "ANSWERS_BY_TYPE",
    "Answer",
    "Assistant",
    "accuracy_by_type",
    "majority_baseline",
    "question_type",
    "train_assistant",
    "train_question_only",
]

#: The answers that make sense for each question type.
ANSWERS_BY_TYPE = {
    "colour": tuple(_scenes.COLOURS),
    "shape": tuple(_scenes.SHAPES),
    "count": tuple(_scenes.COUNT_WORDS),
    "exist": ("yes", "no"),
    "position": ("yes", "no"),
}
_TYPE_PATTERNS = (
    ("position", re.compile(r"^is the .+ (left|right) of the .+$")),
    ("colour", re.compile(r"^what (colou?r is the \w+|is the colou?r of the \w+)$")),
    ("shape", re.compile(r"^what (shape is the \w+ \w+|is the shape of the \w+ \w+)$")),
    ("count", re.compile(r"^how many \w+ are there$")),
    ("exist", re.compile(r"^is there an? .+$")),
)
QUESTION_LENGTH = 12


def question_type(question: str) -> str | None:
    """The type of a question (``colour``, ``shape``, ``count``, ``exist``, ``position``) or None.

    Recognises the phrasings of :mod:`mmteach.scenes` (case and punctuation ignored).

    Example
    -------
    >>> question_type("What colour is the square?"), question_type("tell me a joke")
    ('colour', None)
    """
    if not isinstance(question, str):
        raise TypeError(f"question: expected a str, got {type(question).__name__}")
    text = " ".join(tokenize(question))
    return next((kind for kind, pattern in _TYPE_PATTERNS if pattern.match(text)), None)


@dataclass
class Answer:
    """The assistant's reply.

    Attributes
    ----------
    answer : str or None
        The answer, or None when the assistant declines.
    confidence : float
        Probability of the answer among the answers of its question type (0 when declined).
    question_type : str or None
        The recognised question type.
    reason : str
        Why the assistant declined (``""`` when it answered).
    """

    answer: str | None
    confidence: float
    question_type: str | None
    reason: str = ""

    @property
    def answered(self) -> bool:
        return self.answer is not None

    def __str__(self) -> str:
        if not self.answered:
            return f"I can't answer that: {self.reason}"
        return f"{self.answer} ({self.confidence:.0%} sure)"


# =========================================================================== model


def _check_images(images, name: str = "images") -> np.ndarray:
    arr = np.asarray(images)
    size = _scenes.SCENE_SIZE
    if arr.ndim != 4 or arr.shape[1:] != (size, size, 3):
        raise ValueError(f"{name}: expected scenes of shape (n, {size}, {size}, 3), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name}: expected numbers, got dtype {arr.dtype}")
    return arr.astype("float32") / (255.0 if np.issubdtype(arr.dtype, np.integer) else 1.0)


def _film_gate_model(vocab_size: int, n_answers: int, width: int, glimpses: int, question_only: bool):
    import keras
    from keras import layers, ops

    from mmteach.features import PerImageStandardization
    from mmteach.fusion import ParallelFusion

    question = keras.Input(shape=(QUESTION_LENGTH,), dtype="int32", name="question")
    q = layers.Embedding(vocab_size, 32, mask_zero=True, name="question_embedding")(question)
    q = layers.GRU(width, name="question_gru")(q)
    if question_only:
        h = layers.Dense(width, activation="elu", name="hidden")(q)
        out = layers.Dense(n_answers, activation="softmax", name="answer")(h)
        return keras.Model(question, out, name="question_only")

    image = keras.Input(shape=(_scenes.SCENE_SIZE, _scenes.SCENE_SIZE, 3), name="scene")
    x = PerImageStandardization(name="scene_standardize")(image)
    for k, filters in enumerate((16, 32, 32, width)):  # 48 -> 24 -> 12 -> 6 -> 3: one vector per grid cell
        x = layers.Conv2D(filters, 3, padding="same", activation="elu", name=f"scene_conv{k + 1}")(x)
        x = layers.MaxPooling2D(name=f"scene_pool{k + 1}")(x)
    cells = layers.Reshape((_scenes.GRID * _scenes.GRID, width), name="cells")(x)
    coords = np.array([[r, c] for r in range(_scenes.GRID) for c in range(_scenes.GRID)], "float32") - 1
    cells = layers.Lambda(
        lambda t: ops.concatenate(
            [t, ops.broadcast_to(ops.convert_to_tensor(coords), (ops.shape(t)[0], 9, 2))], -1
        ),
        name="cells_with_position",
    )(cells)
    # FiLM: the question scales (gamma) and shifts (beta) every feature of every cell.
    hidden = layers.Dense(width, name="cell_projection")(cells)
    gamma = layers.Reshape((1, width), name="gamma")(layers.Dense(width, name="film_gamma")(q))
    beta = layers.Reshape((1, width), name="beta")(layers.Dense(width, name="film_beta")(q))
    film = layers.Lambda(lambda t: ops.elu(t[0] * (1.0 + t[1]) + t[2]), name="film")([hidden, gamma, beta])
    film = layers.Dense(width, activation="elu", name="cell_mlp")(film)
    # Gates: one per cell and glimpse; the gated cells are summed (a count is a sum of gates).
    gates = layers.Dense(glimpses, activation="sigmoid", name="gates")(film)  # (batch, 9, glimpses)
    pooled = layers.Lambda(
        lambda t: ops.reshape(ops.einsum("bcg,bcf->bgf", t[0], t[1]), (-1, glimpses * width)), name="glimpses"
    )([gates, film])
    counts = layers.Lambda(lambda g: ops.sum(g, axis=1), name="gate_sums")(gates)
    fused = ParallelFusion(name="fusion")([pooled, counts, q])
    h = layers.Dense(2 * width, activation="elu", name="hidden")(fused)
    out = layers.Dense(n_answers, activation="softmax", name="answer")(h)
    return keras.Model([image, question], out, name="vqa_film_gates")


class Assistant:
    """A trained question answering model; see :func:`train_assistant`.

    Attributes
    ----------
    model : keras.Model
        ``[scenes (n, 48, 48, 3) in [0, 1], question ids (n, 12)] -> answer probabilities (n, 14)``.
    vocabulary : list of str
        Question tokens (index = id).
    answers : tuple of str
        :data:`mmteach.scenes.ANSWERS`.
    history : dict
        Training curves.
    """

    def __init__(self, model, vocabulary, history: dict | None = None):
        self.model = model
        self.vocabulary = list(vocabulary)
        self._known = set(self.vocabulary[2:])
        self.answers = tuple(_scenes.ANSWERS)
        self.history = history or {}

    def encode_questions(self, questions) -> np.ndarray:
        """Questions -> ids ``(n, 12)``."""
        return encode_texts([" ".join(tokenize(q)) for q in questions], self.vocabulary, QUESTION_LENGTH)

    def predict(self, images, questions) -> np.ndarray:
        """Answer probabilities ``(n, 14)`` for many scene/question pairs (no checks of types)."""
        questions = list(questions)
        x = [_check_images(images), self.encode_questions(questions)]
        if len(x[0]) != len(questions):
            raise ValueError(f"questions: expected one per image ({len(x[0])}), got {len(questions)}")
        return np.asarray(self.model.predict(x, batch_size=256, verbose=0))

    def answer_batch(self, images, questions) -> list[str]:
        """The most likely answer among those that fit each question's type."""
        probs = self.predict(images, questions)
        out = []
        for p, q in zip(probs, questions, strict=False):
            kind = question_type(q)
            allowed = ANSWERS_BY_TYPE.get(kind, self.answers)
            idx = [self.answers.index(a) for a in allowed]
            out.append(allowed[int(np.argmax(p[idx]))])
        return out

    def ask(self, image, question: str) -> Answer:
        """Answer one question about one scene, or decline with a reason.

        Parameters
        ----------
        image : array
            One scene ``(48, 48, 3)``, uint8 or float in [0, 1].
        question : str
            E.g. "what colour is the circle?".

        Returns
        -------
        Answer
            ``answer`` and ``confidence`` (the probability among the answers of the
            question's type); or ``answer=None`` with a ``reason`` when the question is
            empty, uses words never seen in training, or is not one of the five types.

        Example
        -------
        >>> str(assistant.ask(scene, "how many circles are there?"))  # doctest: +SKIP
        '2 (87% sure)'
        """
        if not isinstance(question, str):
            raise TypeError(f"question: expected a str, got {type(question).__name__}")
        arr = np.asarray(image)
        size = _scenes.SCENE_SIZE
        if arr.shape != (size, size, 3):
            raise ValueError(f"image: expected one scene of shape ({size}, {size}, 3), got {arr.shape}")
        words = tokenize(question)
        if not words:
            return Answer(None, 0.0, None, "the question is empty")
        unknown = [w for w in dict.fromkeys(words) if w not in self._known]
        if unknown:
            listed = ", ".join(repr(w) for w in unknown)
            return Answer(
                None,
                0.0,
                question_type(question),
                f"I never saw the word{'s' if len(unknown) > 1 else ''} {listed} in training",
            )
        kind = question_type(question)
        if kind is None:
            return Answer(
                None,
                0.0,
                None,
                "I only answer questions about an object's colour or shape, "
                "how many there are, whether one is there, and whether one is left of another",
            )
        probs = self.predict(arr[None], [question])[0]
        allowed = ANSWERS_BY_TYPE[kind]
        p = np.array([probs[self.answers.index(a)] for a in allowed])
        p = p / p.sum()
        best = int(np.argmax(p))
        return Answer(allowed[best], float(p[best]), kind)


def _answer_ids(answers) -> np.ndarray:
    index = {a: i for i, a in enumerate(_scenes.ANSWERS)}
    bad = sorted({a for a in answers if a not in index})
    if bad:
        raise ValueError(f"answers: expected values in scenes.ANSWERS, got {bad[:5]}")
    return np.array([index[a] for a in answers], dtype="int32")


def _check_scenes(sc, name: str = "train"):
    if not isinstance(sc, _scenes.Scenes):
        raise TypeError(f"{name}: expected a mmteach.scenes.Scenes, got {type(sc).__name__}")
    if len(sc.questions) == 0:
        raise ValueError(f"{name}: expected scenes with questions, got none")
    return sc


def _fit(model, x, y, val, epochs, batch_size, learning_rate, seed):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    callbacks = []
    if val is not None:
        callbacks.append(keras.callbacks.EarlyStopping("val_accuracy", patience=3, restore_best_weights=True))
    hist = model.fit(x, y, validation_data=val, epochs=epochs, batch_size=batch_size, shuffle=True,
                     callbacks=callbacks, verbose=0)  # fmt: skip
    return {k: [float(v) for v in vs] for k, vs in hist.history.items()}


def train_assistant(
    train,
    val=None,
    width: int = 48,
    glimpses: int = 2,
    epochs: int = 12,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> Assistant:
    """Train the FiLM + gated-cells VQA model on ``train`` (a :class:`~mmteach.scenes.Scenes`).

    ``val`` (optional) is used for early stopping on validation accuracy (patience 3,
    best weights kept): the model overfits after a few epochs.

    Example
    -------
    >>> assistant = train_assistant(load_scenes(split="train"), epochs=1)  # doctest: +SKIP
    """
    import keras

    from mmteach import device

    _check_scenes(train)
    if val is not None:
        _check_scenes(val, "val")
    for name, value in (
        ("width", width),
        ("glimpses", glimpses),
        ("epochs", epochs),
        ("batch_size", batch_size),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    vocabulary = build_vocabulary([" ".join(tokenize(q)) for q in train.questions["question"]])
    keras.utils.set_random_seed(seed)
    with device.scope():
        model = _film_gate_model(len(vocabulary), len(_scenes.ANSWERS), width, glimpses, question_only=False)
        assistant = Assistant(model, vocabulary)

        def xy(sc):
            x = [_check_images(sc.question_images()), assistant.encode_questions(sc.questions["question"])]
            return x, _answer_ids(sc.questions["answer"])

        x, y = xy(train)
        assistant.history = _fit(model, x, y, xy(val) if val is not None else None, epochs, batch_size,
                                 learning_rate, seed)  # fmt: skip
    return assistant


def train_question_only(train, epochs: int = 8, width: int = 48, seed: int = 0):
    """A question-only baseline (never sees the image); returns ``predict(questions) -> answers``.

    Example
    -------
    >>> blind = train_question_only(load_scenes(split="train"), epochs=1)  # doctest: +SKIP
    >>> blind(["is there a red circle?"])  # doctest: +SKIP
    ['no']
    """
    import keras

    from mmteach import device

    _check_scenes(train)
    vocabulary = build_vocabulary([" ".join(tokenize(q)) for q in train.questions["question"]])
    keras.utils.set_random_seed(seed)
    with device.scope():
        model = _film_gate_model(len(vocabulary), len(_scenes.ANSWERS), width, 1, question_only=True)
        helper = Assistant(model, vocabulary)
        x = helper.encode_questions(train.questions["question"])
        _fit(model, x, _answer_ids(train.questions["answer"]), None, epochs, 64, 3e-3, seed)

    def predict(questions) -> list[str]:
        questions = list(questions)
        probs = np.asarray(model.predict(helper.encode_questions(questions), batch_size=256, verbose=0))
        return [_scenes.ANSWERS[i] for i in probs.argmax(axis=1)]

    return predict


def majority_baseline(train_questions: pd.DataFrame, questions: pd.DataFrame) -> list[str]:
    """The most common training answer of each question's type (the "prior" baseline).

    Example
    -------
    >>> tr = pd.DataFrame({"type": ["exist", "exist", "exist"], "answer": ["no", "no", "yes"]})
    >>> majority_baseline(tr, pd.DataFrame({"type": ["exist"]}))
    ['no']
    """
    for name, df in (("train_questions", train_questions), ("questions", questions)):
        if not isinstance(df, pd.DataFrame) or "type" not in df:
            raise TypeError(f"{name}: expected a DataFrame with a 'type' column, got {type(df).__name__}")
    if "answer" not in train_questions:
        raise ValueError("train_questions: expected an 'answer' column")
    top = train_questions.groupby("type")["answer"].agg(lambda s: s.value_counts().index[0])
    missing = sorted(set(questions["type"]) - set(top.index))
    if missing:
        raise ValueError(f"questions: types never seen in train_questions: {missing}")
    return [top[t] for t in questions["type"]]


def accuracy_by_type(questions: pd.DataFrame, predictions: dict) -> pd.DataFrame:
    """Accuracy per question type (rows) for each model's predictions (columns), plus "all".

    Parameters
    ----------
    questions : pandas.DataFrame
        With ``type`` and ``answer``.
    predictions : dict of str to list of str
        Model name -> one predicted answer per question.

    Example
    -------
    >>> q = pd.DataFrame({"type": ["exist", "count"], "answer": ["yes", "2"]})
    >>> accuracy_by_type(q, {"m": ["yes", "1"]})["m"].tolist()
    [0.0, 1.0, 0.5]
    """
    if not isinstance(predictions, dict) or not predictions:
        raise TypeError("predictions: expected a non-empty dict of model name -> answers")
    table = {}
    truth = questions["answer"].to_numpy()
    for name, pred in predictions.items():
        pred = np.asarray(list(pred), dtype=object)
        if len(pred) != len(truth):
            raise ValueError(f"predictions[{name!r}]: expected {len(truth)} answers, got {len(pred)}")
        right = pd.Series(pred == truth, index=questions.index)
        col = right.groupby(questions["type"]).mean()
        col["all"] = right.mean()
        table[name] = col
    return pd.DataFrame(table)
