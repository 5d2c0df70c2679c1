"""Tests of mmteach.applications.assistant (tiny data, one epoch: API and refusals, not accuracy)."""

import numpy as np
import pandas as pd
import pytest

from mmteach import scenes
from mmteach.applications import assistant as A


@pytest.fixture(scope="module")
def small():
    return scenes.make_scenes(60, seed=5)


@pytest.fixture(scope="module")
def trained(small):
    return A.train_assistant(small, width=8, epochs=1, seed=0)


def test_question_type_recognises_every_generated_question(small):
    got = [A.question_type(q) for q in small.questions["question"]]
    assert got == list(small.questions["type"])


@pytest.mark.parametrize(
    "question, kind",
    [("What colour is the square?", "colour"), ("what color is the circle", "colour"),
     ("How many circles are there?", "count"), ("is there a red circle?", "exist"),
     ("is the red circle right of the blue square?", "position"),
     ("what is the shape of the green thing?", "shape"), ("tell me a joke", None),
     ("why is the circle red?", None)],
)  # fmt: skip
def test_question_type_examples(question, kind):
    assert A.question_type(question) == kind


def test_ask_answers_within_the_question_type(trained, small):
    img = small.images[0]
    for q, kind in zip(small.questions["question"][:10], small.questions["type"][:10], strict=False):
        a = trained.ask(img, q)
        assert a.answered and a.question_type == kind
        assert a.answer in A.ANSWERS_BY_TYPE[kind]
        assert 1 / len(A.ANSWERS_BY_TYPE[kind]) - 1e-6 <= a.confidence <= 1
        assert str(a).startswith(a.answer)


def test_ask_declines_unknown_words(trained, small):
    a = trained.ask(small.images[0], "what colour is the hexagon?")
    assert not a.answered and a.confidence == 0
    assert "hexagon" in a.reason and str(a).startswith("I can't answer that")


def test_ask_declines_other_question_types(trained, small):
    a = trained.ask(small.images[0], "is the circle there?")  # known words, not a known type
    assert not a.answered and "only answer" in a.reason
    assert not trained.ask(small.images[0], "  ?? ").answered


def test_ask_bad_inputs(trained, small):
    with pytest.raises(TypeError, match="question"):
        trained.ask(small.images[0], 3)
    with pytest.raises(ValueError, match="image"):
        trained.ask(small.images[:2], "is there a red circle?")
    with pytest.raises(ValueError, match="image"):
        trained.ask(np.zeros((32, 32, 3)), "is there a red circle?")


def test_predict_and_baselines(trained, small):
    q = small.questions
    answers = trained.predict(small.question_images(), q["question"])
    assert len(answers) == len(q)
    assert all(a in A.ANSWERS_BY_TYPE[t] for a, t in zip(answers, q["type"], strict=False))
    prior = A.majority_baseline(q, q)
    assert all(
        p == q.loc[q["type"] == t, "answer"].value_counts().index[0]
        for p, t in zip(prior, q["type"], strict=False)
    )
    table = A.accuracy_by_type(q, {"truth": list(q["answer"]), "prior": prior})
    assert (table["truth"] == 1).all() and "all" in table.index


def test_accuracy_by_type_values_and_errors():
    q = pd.DataFrame({"type": ["exist", "count", "count"], "answer": ["yes", "2", "1"]})
    t = A.accuracy_by_type(q, {"m": ["no", "2", "2"]})
    assert (
        t.loc["count", "m"] == 0.5 and t.loc["exist", "m"] == 0 and t.loc["all", "m"] == pytest.approx(1 / 3)
    )
    with pytest.raises(ValueError, match="expected 3"):
        A.accuracy_by_type(q, {"m": ["no"]})
    with pytest.raises(TypeError, match="predictions"):
        A.accuracy_by_type(q, {})
    with pytest.raises(ValueError, match="never seen"):
        A.majority_baseline(q, pd.DataFrame({"type": ["colour"]}))


def test_train_validates(small):
    with pytest.raises(TypeError, match="train"):
        A.train_assistant(small.meta)
    with pytest.raises(ValueError, match="epochs"):
        A.train_assistant(small, epochs=0)


def test_question_only_baseline_ignores_images(small):
    blind = A.train_question_only(small, epochs=1, width=8)
    out = blind(["is there a red circle?", "how many squares are there?"])
    assert len(out) == 2 and all(a in scenes.ANSWERS for a in out)


def test_cut_cells_follows_reading_order():
    encoder = A.cell_encoder(8)
    x = np.random.default_rng(0).random((2, 48, 48, 3)).astype("float32")
    cut = np.asarray(encoder.get_layer("cut_cells")(x)).reshape(2, 9, 16, 16, 3)
    for k in range(9):
        r, c = divmod(k, 3)
        np.testing.assert_allclose(cut[:, k], x[:, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16])


def test_cell_targets_match_the_annotations(small):
    shapes, colours = A.cell_targets(small)
    assert shapes.shape == colours.shape == (len(small), 9)
    for i in range(5):
        objs = small.objects(i)
        assert (shapes[i] > 0).sum() == len(objs) == (colours[i] > 0).sum()
        for o in objs:
            k = 3 * o["row"] + o["col"]
            assert scenes.SHAPES[shapes[i, k] - 1] == o["shape"]
            assert scenes.COLOURS[colours[i, k] - 1] == o["colour"]


def test_train_validates_budgets(small):
    with pytest.raises(ValueError, match="encoder_epochs"):
        A.train_assistant(small, encoder_epochs=-1)
    with pytest.raises(ValueError, match="heads"):
        A.train_assistant(small, heads=0)
    with pytest.raises(TypeError, match="val"):
        A.train_assistant(small, val="val")
    with pytest.raises(ValueError, match="epochs"):
        A.train_question_only(small, epochs=0)


def test_assistant_model_is_one_keras_model(trained, small):
    names = [layer.name for layer in trained.model.layers]
    assert "cell_encoder" in names and "reasoner" in names
    reasoner = trained.model.get_layer("reasoner")
    assert type(reasoner.get_layer("fusion")).__name__ == "ParallelFusion"
    probs = trained.predict_proba(small.question_images()[:4], small.questions["question"][:4])
    assert probs.shape == (4, len(scenes.ANSWERS)) and np.allclose(probs.sum(1), 1, atol=1e-4)
    with pytest.raises(ValueError, match="questions"):
        trained.predict_proba(small.question_images()[:4], small.questions["question"][:3])


def test_exercise_checks_of_notebook_09():
    from mmteach import exercises

    def soft_count(gates):
        return [str(int(np.clip(np.round(g.sum()), 0, 4))) for g in gates]

    exercises.check_soft_count(soft_count)
    with pytest.raises(AssertionError, match="soft count"):
        exercises.check_soft_count(lambda g: [str(int(np.round(x.sum()))) for x in g])  # no clipping
    with pytest.raises(AssertionError, match="soft count"):
        exercises.check_soft_count(lambda g: [str(int((x > 0.5).sum() > 0)) for x in g])

    exercises.check_expected_column(lambda att: att @ (np.arange(9) % 3))
    with pytest.raises(AssertionError, match="expected column"):
        exercises.check_expected_column(lambda att: att @ (np.arange(9) // 3))  # rows, not columns
    with pytest.raises(AssertionError, match="expected column"):
        exercises.check_expected_column(lambda att: (np.arange(9) % 3)[att.argmax(1)])


class _FakeAssistant:
    """Stands in for a trained Assistant: answers 'red' unless the question is empty."""

    def __init__(self):
        self.seen = []

    def ask(self, image, question):
        self.seen.append((np.asarray(image).copy(), question))
        if not question.strip():
            return A.Answer(None, 0.0, None, "the question is empty")
        return A.Answer("red", 0.9, "colour")


def test_assistant_chat_logic(small):
    from mmteach import widgets as W

    fake = _FakeAssistant()
    chat = W.AssistantChat(fake, small)
    assert chat.scene_id == small.meta["id"][0] and chat.image.value[:4] == b"\x89PNG"
    chat.scene_menu.value = small.meta["id"][2]  # as a click in the browser would
    assert chat.scene_id == small.meta["id"][2]
    chat.question.value = "what colour is the circle?"
    chat.ask_button.click()
    assert np.array_equal(fake.seen[-1][0], small.images[2]) and chat.question.value == ""
    assert chat.entries[-1]["reply"] == "red (90% sure)" and "red (90% sure)" in chat.chat_log.value
    name = chat.new_scene(seed=7)
    assert np.array_equal(chat.current, scenes.make_scenes(1, seed=7).images[0]) and "seed 7" in name
    reply = chat.ask("  ")
    assert not reply.answered and len(chat.entries) == 2
    assert "can&#x27;t answer" in chat.chat_log.value and "seed 7" in chat.chat_log.value
    chat.new_button.click()
    assert "seed" in chat.scene_id and chat.scene_id != name
    with pytest.raises(ValueError, match="scene_id"):
        chat.pick_scene("nope")
    with pytest.raises(TypeError, match="assistant"):
        W.AssistantChat(object(), small)
    assert W.chat_log_html([]).startswith("<i>")
    assert "&lt;b&gt;" in W.chat_entry_html("s", "<b>", "x", True)
