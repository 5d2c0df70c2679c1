"""Multi-object scenes: generator, questions, snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmteach import scenes
from mmteach.datasets import DataError, read_png


@pytest.fixture(scope="module")
def generated():
    return scenes.make_scenes(300, seed=0)


def test_scenes_shapes_and_determinism(generated):
    assert generated.images.shape == (300, 48, 48, 3) and generated.images.dtype == np.uint8
    again = scenes.make_scenes(150, seed=0)
    np.testing.assert_array_equal(again.images, generated.images[:150])
    pd.testing.assert_frame_equal(again.meta, generated.meta.iloc[:150])
    assert generated.meta["n_objects"].between(2, 4).all()


def test_objects_sit_in_distinct_cells_and_caption_lists_them(generated):
    for i in range(50):
        objs = generated.objects(i)
        assert len({(o["row"], o["col"]) for o in objs}) == len(objs) == generated.meta["n_objects"][i]
        caption = generated.meta["caption"][i]
        for o in objs:
            assert f"{o['colour']} {o['shape']}" in caption


def test_answers_are_right_and_well_defined(generated):
    """Recompute every answer from the scene's objects."""
    assert set(generated.questions["type"]) == set(scenes.QUESTION_TYPES)
    assert set(generated.questions["answer"]) <= set(scenes.ANSWERS)
    index = {sid: i for i, sid in enumerate(generated.meta["id"])}
    for q in generated.questions.itertuples():
        objs = generated.objects(index[q.scene_id])
        words = q.question.rstrip("?").split()
        if q.type == "count":
            shape = words[2].removesuffix("s")
            assert q.answer == str(sum(o["shape"] == shape for o in objs))
        elif q.type == "exist":
            colour, shape = words[-2:]
            assert q.answer == (
                "yes" if any((o["colour"], o["shape"]) == (colour, shape) for o in objs) else "no"
            )
        elif q.type == "colour":
            matches = [o for o in objs if o["shape"] == words[-1]]
            assert len(matches) == 1 and matches[0]["colour"] == q.answer
        elif q.type == "shape":
            colour = [w for w in words if w in scenes.COLOURS][0]
            matches = [o for o in objs if o["colour"] == colour]
            assert len(matches) == 1 and matches[0]["shape"] == q.answer
        else:
            a = next(o for o in objs if (o["colour"], o["shape"]) == (words[2], words[3]))
            b = next(o for o in objs if (o["colour"], o["shape"]) == (words[-2], words[-1]))
            assert q.answer == ("yes" if a["col"] < b["col"] else "no")


def test_yes_no_answers_are_balanced(generated):
    for kind in ("exist", "position"):
        share = (generated.questions.loc[generated.questions["type"] == kind, "answer"] == "yes").mean()
        assert 0.4 < share < 0.6, (kind, share)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n: expected an int >= 1"):
        scenes.make_scenes(0)
    with pytest.raises(ValueError, match="noise"):
        scenes.make_scenes(3, noise=-1)
    with pytest.raises(ValueError, match="split"):
        scenes.load_scenes(split="dev")


def test_bundled_snapshot_matches_generator_and_verifies(tmp_path, monkeypatch):
    monkeypatch.setenv("MMTEACH_CACHE", str(tmp_path))
    assert scenes.verify_scenes() == scenes.N_SCENES + 2
    size = sum(p.stat().st_size for p in scenes.default_scenes_root().rglob("*") if p.is_file())
    assert size <= 15 * 2**20
    bundled = scenes.load_scenes()
    fresh = scenes.make_scenes(120)
    np.testing.assert_array_equal(bundled.images[:120], fresh.images)
    pd.testing.assert_frame_equal(bundled.meta.iloc[:120], fresh.meta, check_dtype=False)
    ids = set(fresh.meta["id"])
    pd.testing.assert_frame_equal(
        bundled.questions[bundled.questions["scene_id"].isin(ids)].reset_index(drop=True), fresh.questions
    )
    test = scenes.load_scenes(split="test")
    assert len(test) >= 100 and set(test.questions["scene_id"]) <= set(test.meta["id"])
    assert test.question_images().shape == (len(test.questions), 48, 48, 3)


def test_rebuild_and_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("MMTEACH_CACHE", str(tmp_path / "cache"))
    root = scenes.build_scenes_snapshot(tmp_path / "sc", n=20)
    np.testing.assert_array_equal(read_png(root / "images/sc_00003.png"), scenes.make_scenes(20).images[3])
    (root / "images/sc_00003.png").write_bytes(b"broken")
    with pytest.raises(DataError, match="sc_00003.png: checksum mismatch"):
        scenes.load_scenes(root)
