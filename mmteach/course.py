"""The course outline: one entry per notebook, in course order.

``mmteach list`` prints it and a test keeps README.md and notebooks/ in sync with it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lesson:
    """One notebook of the course."""

    number: int
    slug: str
    title: str
    summary: str
    minutes: int

    @property
    def filename(self) -> str:
        return f"{self.number:02d}_{self.slug}.ipynb"


COURSE: tuple[Lesson, ...] = (
    Lesson(
        0,
        "setup_and_tour",
        "Setup and a tour of Shapes World",
        "Check the environment, pick CPU or GPU, see, read and listen to the data.",
        20,
    ),
    Lesson(
        1,
        "preprocessing",
        "Preprocessing",
        "Clean a messy table with pandas, scale, tokenise, spectrograms, scrub personal data.",
        45,
    ),
    Lesson(
        2,
        "image_features_cnn",
        "Image features with CNNs",
        "Convolution from scratch, a CNN on real digits, the Shapes World image encoder.",
        45,
    ),
    Lesson(
        3,
        "text_audio_features_rnn",
        "Text and audio features with RNNs",
        "An RNN step from scratch, SimpleRNN vs LSTM vs GRU, masking, audio encoders.",
        45,
    ),
    Lesson(
        4,
        "fusion",
        "The three fusion methods",
        "Parallel, sequential and weighted fusion from scratch and as layers; robustness.",
        60,
    ),
    Lesson(
        5,
        "training_cross_validation",
        "Training and cross-validation",
        "Gradient descent from scratch, stratified k-fold CV, model selection, scaling out.",
        60,
    ),
    Lesson(
        6,
        "attention_transformers",
        "Attention and transformers",
        "Attention and a transformer block from scratch, every modality as tokens, token-level fusion.",
        60,
    ),
    Lesson(
        7,
        "pretrain_then_adapt",
        "Pretrain, then adapt",
        "Scaling curves in miniature, contrastive pretraining, linear probe vs fine-tuning vs scratch.",
        45,
    ),
    Lesson(
        8,
        "image_classification",
        "Application: multimodal classification",
        "The fused classifier end to end: unimodal vs fused, error analysis.",
        40,
    ),
    Lesson(
        9,
        "semantic_understanding",
        "Application: semantic understanding",
        "A dual encoder with a contrastive loss: image-text retrieval and zero-shot.",
        45,
    ),
    Lesson(
        10,
        "machine_translation",
        "Application: machine translation",
        "Seq2seq EN->ZH caption translation with attention; the image resolves ambiguity.",
        45,
    ),
    Lesson(
        11,
        "virtual_assistant",
        "Application: a virtual assistant",
        "Visual question answering on multi-object scenes and a chat widget.",
        45,
    ),
    Lesson(
        12,
        "real_data_digits",
        "Real data: spoken and written digits",
        "Real recordings and handwriting: speaker shift, redundant vs complementary modalities, fusion.",
        60,
    ),
    Lesson(
        13,
        "challenges_and_faq",
        "Challenges and FAQ",
        "Data quality, compute, complexity, data security and trends, answered with evidence.",
        40,
    ),
)


def lesson(name: str) -> Lesson:
    """Find a lesson by number ("4", "04"), slug ("fusion") or file name.

    Parameters
    ----------
    name : str or int
        ``4``, ``"04"``, ``"fusion"``, ``"04_fusion"`` or ``"04_fusion.ipynb"``.
    """
    key = str(name).strip().removesuffix(".ipynb").split("/")[-1]
    for item in COURSE:
        if key in {str(item.number), f"{item.number:02d}", item.slug, item.filename[:-6]}:
            return item
    known = ", ".join(f"{x.number:02d}_{x.slug}" for x in COURSE)
    raise ValueError(f"notebook: no lesson named {name!r}; known lessons: {known}")
