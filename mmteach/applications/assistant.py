"""A visual question answering assistant for Shapes World scenes (notebook 11).

The model reads a 48x48 scene and a question and picks one of the 14 answers of
:data:`mmteach.scenes.ANSWERS`. The objects sit in the cells of a 3x3 grid, so:

* a **cell encoder** cuts the scene into its 9 cells of 16x16 pixels and runs ONE
  small CNN on every cell; two softmax heads say what the cell holds (empty or a
  shape; empty or a colour). It is trained with *extra supervision*: the scene
  annotations telling which shape and colour sits in which cell;
* a **reasoner**: a GRU reads the question into a vector ``q``; ``q`` writes a small
  linear scorer that scores every cell (its contents and row/column);
  **sigmoid gates** ("does this cell match?") are summed, so a count is a sum of
  gates; **softmax attention heads** pick "the X" and give a glimpse of its cell
  and its expected column (two heads compare columns for "A left of B");
* the glimpses, gate sums, columns and ``q`` are fused with
  :class:`mmteach.fusion.ParallelFusion` and an answer classifier follows.

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

import keras
import numpy as np
import pandas as pd
from keras import ops

from mmteach import scenes as _scenes
from mmteach.applications.base import Estimator
from mmteach.preprocessing import build_vocabulary, encode_texts, tokenize
from mmteach.validation import check_choice, check_instance, check_int, check_real, check_str_sequence

__all__ = [
    "ANSWERS_BY_TYPE",
    "Answer",
    "Assistant",
    "accuracy_by_type",
    "build_assistant_model",
    "cell_encoder",
    "cell_targets",
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
GRID_CELLS = _scenes.GRID * _scenes.GRID


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


def cell_targets(sc) -> tuple[np.ndarray, np.ndarray]:
    """Per scene, what each of the 9 cells holds: shape ids and colour ids (0 = empty cell).

    Parameters
    ----------
    sc : mmteach.scenes.Scenes
        The scenes, with their object annotations.

    Returns
    -------
    shapes, colours : numpy.ndarray
        ``(n_scenes, 9)`` int32 each, cells in row-major order.
    """
    check_instance("sc", sc, _scenes.Scenes)
    cells = GRID_CELLS
    shapes = np.zeros((len(sc), cells), "int32")
    colours = np.zeros((len(sc), cells), "int32")
    for i in range(len(sc)):
        for obj in sc.objects(i):
            k = obj["row"] * _scenes.GRID + obj["col"]
            shapes[i, k] = 1 + _scenes.SHAPES.index(obj["shape"])
            colours[i, k] = 1 + _scenes.COLOURS.index(obj["colour"])
    return shapes, colours


def _grid_positions() -> np.ndarray:
    """Per cell: row one-hot, column one-hot and the column number (0, 1, 2) -> ``(9, 7)``."""
    g = _scenes.GRID
    return np.array([[*np.eye(g)[r], *np.eye(g)[c], c] for r in range(g) for c in range(g)], "float32")


# =========================================================================== layers
# Small registered layers instead of closures in keras.layers.Lambda, so that a saved
# assistant (.keras) loads back without unsafe deserialisation.


@keras.saving.register_keras_serializable(package="mmteach")
class CutCells(keras.layers.Layer):
    """Scenes ``(batch, grid*side, grid*side, c)`` -> their cells ``(batch * grid**2, side, side, c)``.

    Cells come in row-major order, scene after scene.

    Example
    -------
    >>> tuple(CutCells(grid=3, side=16)(np.zeros((2, 48, 48, 3))).shape)
    (18, 16, 16, 3)
    """

    def __init__(self, grid: int = _scenes.GRID, side: int = _scenes.SCENE_SIZE // _scenes.GRID, **kwargs):
        super().__init__(**kwargs)
        self.grid, self.side = check_int("grid", grid, min_value=1), check_int("side", side, min_value=1)

    def call(self, scenes):
        g, s = self.grid, self.side
        channels = scenes.shape[-1]
        rows = ops.reshape(scenes, (-1, g, s, g, s, channels))
        return ops.reshape(ops.transpose(rows, (0, 1, 3, 2, 4, 5)), (-1, s, s, channels))

    def get_config(self):
        return {**super().get_config(), "grid": self.grid, "side": self.side}


@keras.saving.register_keras_serializable(package="mmteach")
class GroupCells(keras.layers.Layer):
    """Per-cell vectors ``(batch * cells, width)`` -> ``(batch, cells, width)`` (undoes :class:`CutCells`)."""

    def __init__(self, cells: int = GRID_CELLS, **kwargs):
        super().__init__(**kwargs)
        self.cells = check_int("cells", cells, min_value=1)

    def call(self, x):
        return ops.reshape(x, (-1, self.cells, x.shape[-1]))

    def get_config(self):
        return {**super().get_config(), "cells": self.cells}


@keras.saving.register_keras_serializable(package="mmteach")
class AppendGridPositions(keras.layers.Layer):
    """Cells ``(batch, 9, f)`` -> ``(batch, 9, f + 7)``: row and column one-hot and column number appended."""

    def call(self, cells):
        grid = ops.convert_to_tensor(_grid_positions())
        return ops.concatenate([cells, ops.broadcast_to(grid, (ops.shape(cells)[0], *grid.shape))], -1)


@keras.saving.register_keras_serializable(package="mmteach")
class CellScores(keras.layers.Layer):
    """``[cells (b, c, f), kernel (b, f, h), bias (b, 1, h)] -> cells @ kernel + bias`` ``(b, c, h)``.

    The question writes ``kernel`` and ``bias``: a linear scorer per sample and head.
    """

    def call(self, inputs):
        cells, kernel, bias = inputs
        return ops.einsum("bcf,bfh->bch", cells, kernel) + bias


@keras.saving.register_keras_serializable(package="mmteach")
class HeadActivation(keras.layers.Layer):
    """Scores ``(b, cells, 2 * heads)``: the first ``heads`` as sigmoid gates, or the rest as attention.

    ``kind="gates"``: ``sigmoid(scores[..., :heads])`` ("does this cell match?");
    ``kind="attention"``: ``softmax(scores[..., heads:])`` over the cells ("which cell is it?").
    """

    def __init__(self, heads: int, kind: str, **kwargs):
        super().__init__(**kwargs)
        self.heads = check_int("heads", heads, min_value=1)
        self.kind = check_choice("kind", kind, ("gates", "attention"))

    def call(self, scores):
        if self.kind == "gates":
            return ops.sigmoid(scores[..., : self.heads])
        return ops.softmax(scores[..., self.heads :], axis=1)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "kind": self.kind}


@keras.saving.register_keras_serializable(package="mmteach")
class SumOverCells(keras.layers.Layer):
    """``(b, cells, h) -> (b, h)``: a count is the sum of the gates."""

    def call(self, gates):
        return ops.sum(gates, axis=1)


@keras.saving.register_keras_serializable(package="mmteach")
class Glimpses(keras.layers.Layer):
    """``[attention (b, c, h), cells (b, c, f)] -> (b, h * f)``: each head's attention-weighted cell."""

    def call(self, inputs):
        att, cells = inputs
        return ops.reshape(ops.einsum("bch,bcf->bhf", att, cells), (-1, att.shape[-1] * cells.shape[-1]))


@keras.saving.register_keras_serializable(package="mmteach")
class AttendedColumns(keras.layers.Layer):
    """Attention ``(b, 9, h) -> (b, h)``: the expected grid column of each head's cell."""

    def call(self, att):
        return ops.einsum("bch,c->bh", att, ops.convert_to_tensor(_grid_positions()[:, -1]))


def cell_encoder(width: int):
    """Scene ``(batch, 48, 48, 3)`` -> what each of the 9 cells holds: ``(batch, 9, 4 + 5)``.

    The scene is cut into its 3x3 cells, ONE small CNN reads every 16x16 cell, and two
    softmax heads tell the cell's shape (empty/circle/square/triangle) and colour
    (empty/red/green/blue/yellow).

    Parameters
    ----------
    width : int
        Size of the cell vectors.
    """
    width = check_int("width", width, min_value=1)
    from keras import layers

    from mmteach.features import PerImageStandardization

    cells, side = GRID_CELLS, _scenes.SCENE_SIZE // _scenes.GRID
    image = keras.Input(shape=(_scenes.SCENE_SIZE, _scenes.SCENE_SIZE, 3), name="scene")
    x = PerImageStandardization(name="scene_standardize")(image)
    x = CutCells(_scenes.GRID, side, name="cut_cells")(x)  # (batch, 48, 48, 3) -> (batch * 9, 16, 16, 3)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="cell_conv1")(x)
    x = layers.MaxPooling2D(name="cell_pool1")(x)  # 8x8
    x = layers.Conv2D(24, 3, padding="same", activation="relu", name="cell_conv2")(x)
    x = layers.MaxPooling2D(name="cell_pool2")(x)  # 4x4
    x = layers.Flatten(name="cell_flatten")(x)
    x = layers.Dense(width, activation="relu", name="cell_dense")(x)
    feats = GroupCells(cells, name="cells")(x)
    shape = layers.Dense(1 + len(_scenes.SHAPES), activation="softmax", name="cell_shape")(feats)
    colour = layers.Dense(1 + len(_scenes.COLOURS), activation="softmax", name="cell_colour")(feats)
    return keras.Model(image, [shape, colour], name="cell_encoder")


def _reasoner(vocab_size: int, width: int, heads: int):
    """``[cells (batch, 9, 9), question ids (batch, 12)] -> answer probabilities (batch, 14)``."""
    from keras import layers

    from mmteach.fusion import ParallelFusion

    grid = _grid_positions()
    n_in = 1 + len(_scenes.SHAPES) + 1 + len(_scenes.COLOURS) + grid.shape[1]
    cells_in = keras.Input(shape=(GRID_CELLS, n_in - grid.shape[1]), name="cells")
    question = keras.Input(shape=(QUESTION_LENGTH,), dtype="int32", name="question")
    q = layers.Embedding(vocab_size, 32, mask_zero=True, name="question_embedding")(question)
    q = layers.GRU(width, name="question_gru")(q)
    cells = AppendGridPositions(name="cells_with_position")(cells_in)
    # The question writes a small linear classifier per head that scores every cell.
    kernel = layers.Reshape((n_in, 2 * heads), name="question_kernel")(
        layers.Dense(n_in * 2 * heads, name="kernel")(q)
    )
    bias = layers.Reshape((1, 2 * heads), name="question_bias")(layers.Dense(2 * heads, name="bias")(q))
    scores = CellScores(name="cell_scores")([cells, kernel, bias])
    # Sigmoid gates (exist / count): the count is the sum of the gates.
    gates = HeadActivation(heads, "gates", name="gates")(scores)
    gate_sums = SumOverCells(name="gate_sums")(gates)
    # Softmax attention heads ("the X"): a glimpse of one cell each, and its expected column.
    att = HeadActivation(heads, "attention", name="attention")(scores)
    glimpses = Glimpses(name="glimpses")([att, cells])
    columns = AttendedColumns(name="attended_columns")(att)
    fused = ParallelFusion(name="fusion")([glimpses, gate_sums, columns, q])
    hidden = layers.Dense(2 * width, activation="elu", name="hidden")(fused)
    out = layers.Dense(len(_scenes.ANSWERS), activation="softmax", name="answer")(hidden)
    return keras.Model([cells_in, question], out, name="reasoner")


def build_assistant_model(vocab_size: int, width: int = 32, heads: int = 2):
    """The untrained assistant as one Keras model ``[scene, question ids] -> answer probabilities``.

    :func:`train_assistant` trains the two parts (:func:`cell_encoder`, then the reasoner)
    one after the other; this builds the same architecture at once (for counting costs).

    Parameters
    ----------
    vocab_size : int
        Question vocabulary size (padding and unknown included).
    width : int
        Size of the cell and question vectors.
    heads : int
        Number of sigmoid gates and of softmax attention heads.

    Example
    -------
    >>> build_assistant_model(40).output_shape  # doctest: +SKIP
    (None, 14)
    """
    vocab_size = check_int("vocab_size", vocab_size, min_value=3)
    width, heads = check_int("width", width, min_value=1), check_int("heads", heads, min_value=1)
    return _assemble(cell_encoder(width), _reasoner(vocab_size, width, heads))


def _assemble(encoder, reasoner):
    """One model ``[scene, question ids] -> answer probabilities`` from the two parts."""
    import keras
    from keras import layers

    image = keras.Input(shape=(_scenes.SCENE_SIZE, _scenes.SCENE_SIZE, 3), name="scene")
    question = keras.Input(shape=(QUESTION_LENGTH,), dtype="int32", name="question")
    cells = layers.Concatenate(name="cell_contents")(encoder(image))
    return keras.Model([image, question], reasoner([cells, question]), name="vqa_cells")


def _question_only_model(vocab_size: int, width: int):
    import keras
    from keras import layers

    question = keras.Input(shape=(QUESTION_LENGTH,), dtype="int32", name="question")
    q = layers.Embedding(vocab_size, 32, mask_zero=True, name="question_embedding")(question)
    q = layers.GRU(width, name="question_gru")(q)
    h = layers.Dense(width, activation="elu", name="hidden")(q)
    out = layers.Dense(len(_scenes.ANSWERS), activation="softmax", name="answer")(h)
    return keras.Model(question, out, name="question_only")


@dataclass
class AssistantScore:
    """What :meth:`Assistant.score` returns.

    Attributes
    ----------
    accuracy : float
        Share of questions answered right (answers restricted to each question's type).
    by_type : pandas.Series
        Accuracy per question type (index: ``colour``, ``count``, ...).
    n : int
        Number of questions scored.
    """

    accuracy: float
    by_type: pd.Series
    n: int


def _encode_questions(questions, vocabulary: list[str]) -> np.ndarray:
    questions = check_str_sequence("questions", questions, non_empty=False)
    return encode_texts([" ".join(tokenize(q)) for q in questions], vocabulary, QUESTION_LENGTH)


def _question_vocabulary(sc) -> list[str]:
    return build_vocabulary([" ".join(tokenize(q)) for q in sc.questions["question"]])


class Assistant(Estimator):
    """Visual question answering on scenes (an :class:`~mmteach.applications.base.Estimator`).

    ``Assistant(...).fit(train, val)`` trains it (:func:`train_assistant` does the same in
    one call); ``predict(images, questions)`` gives the answers (restricted to each
    question's type), ``predict_proba`` the probabilities of all 14 answers,
    ``score(scenes)`` an :class:`AssistantScore`, ``ask`` one :class:`Answer` or a
    refusal; ``save`` / ``load`` round-trip it.

    Parameters
    ----------
    width : int
        Size of the cell and question vectors.
    heads : int
        Number of sigmoid gates and of softmax attention heads.
    learning_rate : float
        Adam's learning rate (both training steps).
    seed : int
        Seed of the weights and the shuffling.

    Attributes
    ----------
    model : keras.Model
        ``[scenes (n, 48, 48, 3) in [0, 1], question ids (n, 12)] -> answer probabilities (n, 14)``.
    vocabulary : list of str
        Question tokens (index = id), set by ``fit``.
    answers : tuple of str
        :data:`mmteach.scenes.ANSWERS`.
    history : dict
        Training curves (``"encoder"``, ``"reasoner"``).

    Example
    -------
    >>> Assistant(width=16).is_fitted
    False
    """

    config_file = "assistant.json"

    def __init__(self, width: int = 32, heads: int = 2, learning_rate: float = 3e-3, seed: int = 0) -> None:
        self.width = check_int("width", width, min_value=1)
        self.heads = check_int("heads", heads, min_value=1)
        self.learning_rate = float(check_real("learning_rate", learning_rate, positive=True))
        self.seed = check_int("seed", seed, min_value=0)
        self.model: keras.Model | None = None
        self._set_vocabulary([])
        self.answers = tuple(_scenes.ANSWERS)
        self.history: dict = {}

    def _set_vocabulary(self, vocabulary: list[str]) -> None:
        self.vocabulary = list(vocabulary)
        self._known = set(self.vocabulary[2:])

    # -- training --------------------------------------------------------------------------

    def fit(self, train, val=None, *, epochs: int = 12, encoder_epochs: int = 4,
            batch_size: int = 64) -> Assistant:  # fmt: skip
        """Train the grid-cell VQA model on ``train`` (a :class:`~mmteach.scenes.Scenes`) in two steps.

        1. The cell encoder (one CNN shared by the 9 grid cells) learns what each cell
           holds from the scene annotations (extra supervision, one pass per scene;
           ``encoder_epochs=0`` leaves it untrained).
        2. The reasoner (GRU question encoder, question-written cell scores -> sigmoid
           gates and softmax attention, :class:`~mmteach.fusion.ParallelFusion`,
           answer classifier) learns to answer from the cells' contents, through
           :func:`mmteach.training.fit`; with ``val`` it stops early on validation
           accuracy (patience 2, best weights kept).

        Everything is seeded once with ``seed`` (:func:`mmteach.seeding.seed_everything`).
        Returns ``self``, holding both parts as one model ``[scene, question] -> answer``.
        """
        from mmteach.seeding import seed_everything
        from mmteach.training import fit

        _check_scenes(train)
        if val is not None:
            _check_scenes(val, "val")
        epochs = check_int("epochs", epochs, min_value=1)
        batch_size = check_int("batch_size", batch_size, min_value=1)
        encoder_epochs = check_int("encoder_epochs", encoder_epochs, min_value=0)
        self._set_vocabulary(_question_vocabulary(train))
        seed_everything(self.seed)
        encoder, self.history = _train_cell_encoder(train, self.width, encoder_epochs, batch_size,
                                                    self.learning_rate)  # fmt: skip
        x, y = self._reasoner_data(encoder, train)

        def build():
            return _compiled(_reasoner(len(self.vocabulary), self.width, self.heads), self.learning_rate)

        has_val = val is not None
        result = fit(build, x, y, validation_data=self._reasoner_data(encoder, val) if has_val else None,
                     epochs=epochs, batch_size=batch_size, seed=None, patience=2 if has_val else None,
                     monitor="val_accuracy", restore_best_weights=has_val)  # fmt: skip
        self.history["reasoner"] = {k: [float(v) for v in vs] for k, vs in result.history.items()}
        self.model = _assemble(encoder, result.model)
        return self

    def _reasoner_data(self, encoder, sc) -> tuple[dict, np.ndarray]:
        """The reasoner's inputs (cell contents, computed once per scene; question ids) and answer ids."""
        contents = np.concatenate(encoder.predict(_check_images(sc.images), batch_size=256, verbose=0), -1)
        position = pd.Series(np.arange(len(sc)), index=sc.meta["id"])
        rows = position.loc[sc.questions["scene_id"]].to_numpy()
        x = {"cells": contents[rows], "question": self.encode_questions(sc.questions["question"])}
        return x, _answer_ids(sc.questions["answer"])

    # -- the protocol's other verbs -----------------------------------------------------------

    def encode_questions(self, questions) -> np.ndarray:
        """Questions -> ids ``(n, 12)``."""
        return _encode_questions(questions, self.vocabulary)

    def predict_proba(self, images, questions) -> np.ndarray:
        """Answer probabilities ``(n, 14)`` (columns: :attr:`answers`) for many scene/question pairs."""
        self._check_fitted()
        questions = check_str_sequence("questions", questions)
        x = [_check_images(images), self.encode_questions(questions)]
        if len(x[0]) != len(questions):
            raise ValueError(f"questions: expected one per image ({len(x[0])}), got {len(questions)}")
        return np.asarray(self.model.predict(x, batch_size=256, verbose=0))

    def predict(self, images, questions) -> list[str]:
        """The most likely answer among those that fit each question's type."""
        questions = check_str_sequence("questions", questions)
        return _restrict(self.predict_proba(images, questions), questions)

    def score(self, sc) -> AssistantScore:
        """Accuracy on the questions of ``sc`` (a :class:`~mmteach.scenes.Scenes`), overall and per type."""
        _check_scenes(sc, "sc")
        answers = self.predict(sc.question_images(), sc.questions["question"])
        table = accuracy_by_type(sc.questions, {"assistant": answers})["assistant"]
        return AssistantScore(float(table["all"]), table.drop("all").rename("accuracy"), len(answers))

    # -- saving (see Estimator.save) ----------------------------------------------------------

    def _state(self) -> dict:
        return {"width": self.width, "heads": self.heads, "learning_rate": self.learning_rate,
                "seed": self.seed, "vocabulary": self.vocabulary, "history": self.history}  # fmt: skip

    def _models(self) -> dict:
        return {"model": self.model}

    @classmethod
    def _restore(cls, state: dict, models: dict) -> Assistant:
        assistant = cls(state["width"], state["heads"], state["learning_rate"], state["seed"])
        assistant._set_vocabulary(check_str_sequence("vocabulary", state["vocabulary"]))
        assistant.model, assistant.history = models["model"], dict(state.get("history", {}))
        return assistant

    # -- one question ----------------------------------------------------------------------

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
        self._check_fitted()
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
        probs = self.predict_proba(arr[None], [question])[0]
        allowed = ANSWERS_BY_TYPE[kind]
        p = np.array([probs[self.answers.index(a)] for a in allowed])
        p = p / p.sum()
        best = int(np.argmax(p))
        return Answer(allowed[best], float(p[best]), kind)


def _restrict(probs: np.ndarray, questions) -> list[str]:
    """Per question, the most likely answer among the answers of its type."""
    out = []
    for p, q in zip(probs, questions, strict=True):
        allowed = ANSWERS_BY_TYPE.get(question_type(q), _scenes.ANSWERS)
        out.append(allowed[int(np.argmax([p[_scenes.ANSWERS.index(a)] for a in allowed]))])
    return out


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


def _compiled(model, learning_rate: float):
    """``model`` compiled with Adam, sparse cross-entropy and accuracy for each of its outputs."""
    n_out = len(model.outputs)
    loss = "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=[loss] * n_out if n_out > 1 else loss,
                  metrics=["accuracy"] * n_out)  # fmt: skip
    return model


def _train_cell_encoder(train, width: int, epochs: int, batch_size: int, learning_rate: float):
    """A new :func:`cell_encoder`, trained ``epochs`` times on the cell annotations: ``(encoder, history)``.

    It has two outputs (shape and colour of each cell), which :func:`mmteach.training.fit`
    does not take (it takes one label array), so it calls Keras's ``fit`` itself, on the
    chosen device, with the random state its caller seeded.
    """
    from mmteach import device

    with device.scope():
        encoder = cell_encoder(width)
        if not epochs:
            return encoder, {}
        _compiled(encoder, learning_rate)
        hist = encoder.fit(_check_images(train.images), list(cell_targets(train)), epochs=epochs,
                           batch_size=batch_size, shuffle=True, verbose=0)  # fmt: skip
    return encoder, {"encoder": {k: [float(v) for v in vs] for k, vs in hist.history.items()}}


def train_assistant(train, val=None, width: int = 32, heads: int = 2, epochs: int = 12,
                    encoder_epochs: int = 4, batch_size: int = 64, learning_rate: float = 3e-3,
                    seed: int = 0) -> Assistant:  # fmt: skip
    """Train the grid-cell VQA model on ``train`` in one call.

    The same as ``Assistant(width, heads, learning_rate, seed).fit(train, val, epochs=epochs,
    encoder_epochs=encoder_epochs, batch_size=batch_size)``: see :class:`Assistant` and
    :meth:`Assistant.fit` for the parameters.

    Example
    -------
    >>> assistant = train_assistant(load_scenes(split="train"), epochs=1)  # doctest: +SKIP
    """
    assistant = Assistant(width, heads, learning_rate, seed)
    return assistant.fit(train, val, epochs=epochs, encoder_epochs=encoder_epochs, batch_size=batch_size)


def train_question_only(train, epochs: int = 6, width: int = 32, seed: int = 0):
    """A question-only baseline (never sees the image); returns ``predict(questions) -> answers``.

    Predictions are restricted to the answers of each question's type, like the assistant's.
    Trained through :func:`mmteach.training.fit`, seeded with ``seed``.

    Example
    -------
    >>> blind = train_question_only(load_scenes(split="train"), epochs=1)  # doctest: +SKIP
    >>> blind(["is there a red circle?"])  # doctest: +SKIP
    ['no']
    """
    from mmteach.training import fit

    _check_scenes(train)
    epochs, width = check_int("epochs", epochs, min_value=1), check_int("width", width, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    vocabulary = _question_vocabulary(train)
    x = _encode_questions(train.questions["question"], vocabulary)
    y = _answer_ids(train.questions["answer"])
    model = fit(lambda: _compiled(_question_only_model(len(vocabulary), width), 3e-3), x, y, epochs=epochs,
                batch_size=64, seed=seed).model  # fmt: skip

    def predict(questions) -> list[str]:
        questions = list(questions)
        probs = np.asarray(model.predict(_encode_questions(questions, vocabulary), batch_size=256, verbose=0))
        return _restrict(probs, questions)

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
    check_instance("questions", questions, pd.DataFrame, " (e.g. scenes.questions)")
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
