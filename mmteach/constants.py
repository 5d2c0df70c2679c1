"""The course's names and sizes, defined once (no numpy, no Keras: every module may import this).

The modules that use a constant re-export it under the name it has always had there
(``mmteach.models.MODALITIES``, ``mmteach.fusion.RNN_KINDS``, ``mmteach.datasets.IMAGE_SIZE``, ...),
so notebooks and user code keep working; new code imports it from here.

Examples
--------
>>> from mmteach import constants
>>> constants.MODALITIES
('image', 'text', 'audio')
>>> constants.FUSIONS
('parallel', 'sequential', 'weighted', 'inject')
>>> constants.AUDIO_SAMPLES / constants.SAMPLE_RATE  # seconds of one recording
0.25
"""

from __future__ import annotations

__all__ = [
    "AUDIO_SAMPLES",
    "CATEGORIES",
    "CLASS_NAMES",
    "COLOURS",
    "FUSIONS",
    "FUSION_METHODS",
    "FUSION_RNN_KINDS",
    "IMAGE_SIZE",
    "MATERIALS",
    "METADATA_COLUMNS",
    "MODALITIES",
    "N_SAMPLES",
    "RNN_KINDS",
    "SAMPLE_RATE",
    "SEED",
    "SEQUENCE_KINDS",
    "SHAPES",
    "SIZES",
    "SPLITS",
    "TOKEN_FUSIONS",
    "WEIGHTED_MODES",
]

# ----------------------------------------------------------------- modalities and architectures

#: the three modalities of Shapes World, in the order every model and table uses
MODALITIES = ("image", "text", "audio")
#: the recurrent layers the text and audio encoders offer (``features.rnn_layer``)
RNN_KINDS = ("simple", "lstm", "gru")
#: what the ``rnn`` argument of the text and audio encoders accepts: a recurrent kind or ``"pool"``
SEQUENCE_KINDS = (*RNN_KINDS, "pool")
#: the three fusion families (notebook 04)
FUSION_METHODS = ("parallel", "sequential", "weighted")
#: what ``models.build_multimodal_model(fusion=...)`` accepts: the three families and the inject variant
FUSIONS = (*FUSION_METHODS, "inject")
#: the weightings of weighted fusion
WEIGHTED_MODES = ("fixed", "learned", "gated")
#: the recurrent layers of sequential and inject fusion (a subset of RNN_KINDS, GRU first: the default)
FUSION_RNN_KINDS = ("gru", "simple")
#: the token-level fusions of notebook 06: the same three families, over tokens
TOKEN_FUSIONS = FUSION_METHODS

# ----------------------------------------------------------------- Shapes World

SHAPES = ("circle", "square", "triangle")
MATERIALS = ("metal", "wood", "rubber")
COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")
SPLITS = ("train", "val", "test")
#: the nine classes: shape x material, shape-major (class index = shape index * 3 + material index)
CLASS_NAMES = tuple(f"{s}_{m}" for s in SHAPES for m in MATERIALS)
#: the categorical columns of the metadata table and the values they may take once clean
CATEGORIES = {"shape": SHAPES, "material": MATERIALS, "colour": COLOURS, "size": SIZES}
#: the columns of the raw metadata table, in the order of ``metadata.csv``
METADATA_COLUMNS = (
    "id", "split", "shape", "colour", "size", "radius_px", "x", "y", "rotation_deg",
    "material", "caption_en", "caption_zh", "image", "audio",
)  # fmt: skip
#: pixels per side of an image
IMAGE_SIZE = 32
#: samples per second of every recording (Shapes World and the spoken digits)
SAMPLE_RATE = 8000
#: samples per Shapes World recording (0.25 s at 8 kHz)
AUDIO_SAMPLES = 2000
#: objects in the bundled snapshot
N_SAMPLES = 3000
#: the seed of the bundled snapshot and of every default split
SEED = 0
