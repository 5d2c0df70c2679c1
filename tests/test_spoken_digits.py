"""Spoken digits: loader (checksums, decoding, cache, refusals), pairing and splits, degradation knobs."""

from __future__ import annotations

import hashlib
import wave

import numpy as np
import pytest

from mmteach import spoken_digits as sdm
from mmteach.datasets import DataError, encode_wav


def write_recordings(root, speakers=("ann", "bob", "cy"), takes=3, digits=range(10), rate=8000):
    """A small dataset in the bundled layout: recordings/ and MANIFEST.sha256."""
    folder = root / "recordings"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for s in speakers:
        for d in digits:
            for t in range(takes):
                name = f"{d}_{s}_{t}.wav"
                data = encode_wav(
                    0.3 * np.sin(np.arange(400 + 37 * d + t) * (0.1 + d / 50))
                    + 0.01 * rng.normal(size=400 + 37 * d + t),
                    rate,
                )
                (folder / name).write_bytes(data)
                lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (root / "MANIFEST.sha256").write_text("".join(sorted(lines)))
    return root


@pytest.fixture
def small(tmp_path, monkeypatch):
    monkeypatch.setenv("MMTEACH_CACHE", str(tmp_path / "cache"))
    return write_recordings(tmp_path / "sd")


def test_loads_decodes_and_caches(small, tmp_path):
    sd = sdm.load_spoken_digits(small)
    assert len(sd) == 90 and sorted(sd.meta.speaker.unique()) == ["ann", "bob", "cy"]
    row = sd.meta.iloc[0]
    assert (row.digit, row.speaker, row["take"]) == (0, "ann", 0)
    assert [len(w) for w in sd.waveforms[:3]] == [400, 401, 402]  # variable lengths kept
    assert sd.waveforms[0].dtype == np.float32 and np.abs(sd.waveforms[0]).max() <= 1
    caches = list((tmp_path / "cache").glob("spoken_digits-*.npz"))
    assert len(caches) == 1
    with np.load(caches[0], allow_pickle=False) as z:  # no pickled objects in the cache
        assert z["names"].dtype.kind == "U"
    again = sdm.load_spoken_digits(small)
    assert all(np.array_equal(a, b) for a, b in zip(sd.waveforms, again.waveforms, strict=True))
    assert sd.padded(500).shape == (90, 500)


def test_damaged_cache_is_rebuilt(small, tmp_path):
    sdm.load_spoken_digits(small)
    cache = next((tmp_path / "cache").glob("spoken_digits-*.npz"))
    cache.write_bytes(b"not an npz")
    assert len(sdm.load_spoken_digits(small)) == 90


def test_corrupt_file_is_refused_by_name(small):
    (small / "recordings" / "3_bob_1.wav").write_bytes(b"RIFF....garbage")
    with pytest.raises(DataError, match="3_bob_1.wav: checksum mismatch"):
        sdm.load_spoken_digits(small)
    with pytest.raises(DataError, match="3_bob_1.wav"):
        sdm.verify_spoken_digits(small)


def test_missing_and_unlisted_files_are_refused_by_name(small):
    (small / "recordings" / "7_cy_2.wav").rename(small / "recordings" / "7_cy_9.wav")
    with pytest.raises(DataError, match="7_cy_2.wav: listed in MANIFEST.sha256 but missing"):
        sdm.load_spoken_digits(small)
    (small / "recordings" / "7_cy_9.wav").rename(small / "recordings" / "7_cy_2.wav")
    (small / "recordings" / "1_zed_0.wav").write_bytes(encode_wav(np.zeros(400)))
    with pytest.raises(DataError, match="1_zed_0.wav: not listed"):
        sdm.verify_spoken_digits(small)


def test_wrong_sample_rate_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("MMTEACH_CACHE", str(tmp_path / "cache"))
    root = write_recordings(tmp_path / "sd", speakers=("ann",), takes=1, rate=16000)
    with pytest.raises(DataError, match=r"0_ann_0.wav: expected a sample rate of 8000 Hz, got 16000 Hz"):
        sdm.load_spoken_digits(root)


def test_stereo_file_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("MMTEACH_CACHE", str(tmp_path / "cache"))
    root = write_recordings(tmp_path / "sd", speakers=("ann",), takes=1)
    path = root / "recordings" / "5_ann_0.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0" * 1600)
    manifest = root / "MANIFEST.sha256"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    lines = [
        f"{digest}  5_ann_0.wav" if ln.endswith("5_ann_0.wav") else ln
        for ln in manifest.read_text().splitlines()
    ]
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="5_ann_0.wav: expected 16-bit mono"):
        sdm.load_spoken_digits(root)


@pytest.mark.parametrize("split", sdm.SPLITS)
def test_splits_leak_nothing_and_seed_fixes_pairs(small, split):
    sd = sdm.load_spoken_digits(small)
    av = sdm.make_audio_visual_digits(sd, split=split, seed=3)
    digits = __import__("sklearn.datasets", fromlist=["load_digits"]).load_digits()
    assert np.array_equal(digits.target[av.meta.image_index], av.labels)  # same digit in both modalities
    assert np.allclose(av.images[..., 0], digits.images[av.meta.image_index] / 16.0)
    folds = list(av.folds())
    assert len(folds) == (3 if split == "speaker" else 1)
    for name, train, test in folds:
        assert len(train) + len(test) == len(av) and not set(train) & set(test)
        assert not set(av.meta.image_index[train]) & set(av.meta.image_index[test])  # no shared image
        if split == "speaker":  # the test speaker is never heard in training
            assert set(av.speakers[test]) == {name} and name not in set(av.speakers[train])
        else:
            assert set(av.meta["take"][test]) <= set(sdm.TEST_TAKES)
            assert not set(av.meta["take"][train]) & set(sdm.TEST_TAKES)
    same = sdm.make_audio_visual_digits(sd, split=split, seed=3)
    other = sdm.make_audio_visual_digits(sd, split=split, seed=4)
    assert np.array_equal(same.meta.image_index, av.meta.image_index)
    assert not np.array_equal(other.meta.image_index, av.meta.image_index)


def test_pairing_validates_its_arguments(small):
    sd = sdm.load_spoken_digits(small)
    with pytest.raises(ValueError, match=r"split: expected one of \('speaker', 'takes'\), got 'random'"):
        sdm.make_audio_visual_digits(sd, split="random")
    with pytest.raises(TypeError, match="seed: expected an int >= 0, got float"):
        sdm.make_audio_visual_digits(sd, seed=1.5)
    with pytest.raises(TypeError, match="spoken: expected a SpokenDigits"):
        sdm.make_audio_visual_digits([1, 2])


def test_image_degradation_knobs():
    images = sdm._digit_pool()[0][:50, ..., None]
    assert np.allclose(sdm.degrade_images(images, components=64), images, atol=1e-5)  # all components
    errors = [np.mean((sdm.degrade_images(images, components=k) - images) ** 2) for k in (2, 8, 32)]
    assert errors[0] > errors[1] > errors[2]  # fewer components, more information lost
    blurred = sdm.degrade_images(images, blur=1.0)
    assert blurred.shape == images.shape and blurred.dtype == images.dtype
    assert np.abs(np.diff(blurred, axis=2)).mean() < np.abs(np.diff(images, axis=2)).mean()  # smoother
    noisy = sdm.degrade_images(images, noise=0.3, seed=1)
    assert np.array_equal(noisy, sdm.degrade_images(images, noise=0.3, seed=1))
    assert 0 <= noisy.min() and noisy.max() <= 1
    with pytest.raises(ValueError, match="components: expected an int in \\[0, 64\\].*got 65"):
        sdm.degrade_images(images, components=65)
    with pytest.raises(ValueError, match="noise: expected a finite real number >= 0.0, got -1"):
        sdm.degrade_images(images, noise=-1)
    with pytest.raises(ValueError, match=r"images: expected shape \(n, 8, 8\)"):
        sdm.degrade_images(np.zeros((2, 4, 4), np.float32))


@pytest.mark.parametrize("snr", [20.0, 5.0, -5.0])
def test_audio_noise_has_the_asked_snr(snr):
    waves = [np.sin(np.arange(n) * 0.2).astype(np.float32) for n in (4000, 6000)]
    noisy = sdm.add_noise(waves, snr, seed=0)
    assert [len(w) for w in noisy] == [4000, 6000]
    for w, n in zip(waves, noisy, strict=True):
        assert abs(sdm.snr_db(w, n) - snr) < 0.3
    assert np.array_equal(noisy[0], sdm.add_noise(waves, snr, seed=0)[0])
    with pytest.raises(TypeError, match="snr: expected a finite real number, got str"):
        sdm.add_noise(waves, "10")


def test_pad_or_trim():
    out = sdm.pad_or_trim([np.ones(3, np.float32), np.ones(8, np.float32)], 5)
    assert out.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    with pytest.raises(ValueError, match="n_samples: expected an int >= 1, got 0"):
        sdm.pad_or_trim([np.ones(3)], 0)


def test_the_bundled_recordings(tmp_path, monkeypatch):
    monkeypatch.setenv("MMTEACH_CACHE", str(tmp_path / "cache"))
    assert sdm.verify_spoken_digits() == 2500
    sd = sdm.load_spoken_digits()
    assert len(sd) == 2500 and tuple(sorted(sd.meta.speaker.unique())) == sdm.SPEAKERS
    counts = sd.meta.groupby(["speaker", "digit"]).size()
    assert counts.min() == counts.max() == 50 and sorted(sd.meta["take"].unique()) == list(range(50))
    assert 0.1 < sd.meta.seconds.min() and sd.meta.seconds.max() < 2.5
    av = sdm.make_audio_visual_digits(sd, seed=0)
    assert [name for name, _, _ in av.folds()] == list(sdm.SPEAKERS)
    assert set(sdm.ACCENTS) == set(sdm.SPEAKERS)


def test_audio_transformer_and_token_fusion_head_ignore_padding():
    pytest.importorskip("keras")
    from mmteach import token_models as tm

    rng = np.random.default_rng(0)
    x = rng.random((2, 12, 6)).astype(np.float32)
    x[:, 9:] = 0.0  # padding frames: the last token of 3 frames
    encoder = tm.audio_transformer(12, 6, width=8, heads=2)
    out = np.asarray(encoder(x))
    assert out.shape == (2, 8)
    assert encoder.get_layer("audio_encoder").__class__.__name__ == "SingleStreamFusion"
    changed = x.copy()
    changed[:, 10] = 5.0  # a padding token that now holds sound is no longer padding
    assert not np.allclose(np.asarray(encoder(changed)), out, atol=1e-4)
    head = tm.token_fusion_head((4, 3), (12, 5), width=8, n_classes=10)
    inputs = {
        "image_tokens": rng.random((2, 4, 3)).astype(np.float32),
        "audio_frames": rng.random((2, 12, 5)).astype(np.float32),
        "audio_mask": np.arange(12)[None].repeat(2, 0) < 7,
    }
    p = np.asarray(head(inputs))
    assert p.shape == (2, 10) and np.allclose(p.sum(1), 1, atol=1e-5)
    changed = dict(inputs, audio_frames=inputs["audio_frames"].copy())
    changed["audio_frames"][:, 7:] = 99.0  # what padding frames hold must not matter
    assert np.allclose(np.asarray(head(changed)), p, atol=1e-5)
    changed["audio_frames"][:, 3] = 99.0  # a real frame does
    assert not np.allclose(np.asarray(head(changed)), p, atol=1e-4)
    with pytest.raises(ValueError, match="frames_per_token"):
        tm.token_fusion_head((4, 3), (10, 5))
    with pytest.raises(TypeError, match="image_tokens"):
        tm.token_fusion_head(4, (12, 5))


# --------------------------------------------------------------------------- exercise checks


def test_exercise_checks_accept_right_and_refuse_wrong_answers(capsys):
    from mmteach import exercises as ex

    ex.check_pad_or_trim(lambda ws, n: sdm.pad_or_trim(ws, n))
    with pytest.raises(AssertionError, match="pad_or_trim"):
        ex.check_pad_or_trim(lambda ws, n: sdm.pad_or_trim([w[::-1] for w in ws], n))  # padded at the front
    ex.check_noise_std(lambda w, snr: float(np.sqrt(np.mean(w**2) / 10 ** (snr / 10))))
    with pytest.raises(AssertionError, match="noise std"):
        ex.check_noise_std(lambda w, snr: float(np.mean(w**2) / 10 ** (snr / 10)))  # a power, not a std
    right = lambda s: [(k, np.flatnonzero(s != k), np.flatnonzero(s == k)) for k in sorted(set(s))]  # noqa: E731
    ex.check_speaker_folds(right)
    leaky = lambda s: [(k, np.arange(len(s)), np.flatnonzero(s == k)) for k in sorted(set(s))]  # noqa: E731
    with pytest.raises(AssertionError, match="leak the voice"):
        ex.check_speaker_folds(leaky)
    assert capsys.readouterr().out.count("correct, well done") == 3
