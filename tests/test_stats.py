"""Paired fold differences and the one-standard-error rule (mmteach.stats)."""

import math

import numpy as np
import pandas as pd
import pytest

from mmteach.stats import one_standard_error_rule, paired_differences


def folds_of(scores: dict) -> pd.DataFrame:
    rows = [
        {"candidate": name, "fold": f, "accuracy": acc}
        for name, accs in scores.items()
        for f, acc in enumerate(accs)
    ]
    return pd.DataFrame(rows)


SCORES = {"small": [0.80, 0.88, 0.83, 0.85], "big": [0.82, 0.90, 0.84, 0.86], "tiny": [0.5, 0.6, 0.55, 0.5]}


def test_paired_differences_by_hand():
    diffs = paired_differences(folds_of(SCORES), "small")
    expected = np.array(SCORES["big"]) - np.array(SCORES["small"])
    np.testing.assert_allclose(diffs.loc["big", [f"fold {i}" for i in range(4)]].to_numpy(float), expected)
    assert diffs.loc["big", "mean"] == pytest.approx(expected.mean())
    assert diffs.loc["big", "std"] == pytest.approx(expected.std(ddof=1))
    assert diffs.loc["big", "se"] == pytest.approx(expected.std(ddof=1) / 2)
    assert (diffs.loc["small"] == 0).all()


def test_paired_spread_is_smaller_than_the_scores_spread_when_folds_share_difficulty():
    diffs = paired_differences(folds_of(SCORES), "small")
    assert diffs.loc["big", "std"] < np.std(SCORES["big"], ddof=1)


def test_one_se_rule_picks_the_simpler_model_within_one_se():
    choice = one_standard_error_rule(folds_of(SCORES), {"tiny": 1, "small": 10, "big": 100})
    big = np.array(SCORES["big"])
    assert choice.best == "big"
    assert choice.threshold == pytest.approx(big.mean() - big.std(ddof=1) / math.sqrt(4))
    assert choice.chosen == "small"  # 0.84 >= 0.855 - 0.0178
    assert list(choice.table.index) == ["tiny", "small", "big"]
    assert choice.table["within_one_se"].tolist() == [False, True, True]


def test_one_se_rule_keeps_the_best_when_nothing_simpler_is_close():
    scores = {"small": [0.5, 0.52, 0.51], "big": [0.9, 0.91, 0.9]}
    assert one_standard_error_rule(folds_of(scores), {"small": 1, "big": 2}).chosen == "big"


def test_one_se_rule_for_a_loss():
    folds = folds_of({"small": [0.30, 0.34], "big": [0.29, 0.33]}).rename(columns={"accuracy": "loss"})
    choice = one_standard_error_rule(folds, {"small": 1, "big": 2}, metric="loss", higher_is_better=False)
    assert (choice.best, choice.chosen) == ("big", "small")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"folds": "x"}, TypeError, "folds"),
        ({"metric": "f1"}, ValueError, "metric"),
        ({"metric": 3}, TypeError, "metric"),
        ({"reference": "nobody"}, ValueError, "reference"),
    ],
)
def test_paired_differences_bad_input(kwargs, error, match):
    args = {"folds": folds_of(SCORES), "reference": "small", **kwargs}
    with pytest.raises(error, match=match):
        paired_differences(args.pop("folds"), args.pop("reference"), **args)


def test_missing_folds_and_nan_are_refused():
    folds = folds_of(SCORES)
    with pytest.raises(ValueError, match="lack a score"):
        paired_differences(folds.iloc[1:], "small")
    folds.loc[0, "accuracy"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        paired_differences(folds, "small")
    with pytest.raises(ValueError, match="twice"):
        paired_differences(pd.concat([folds_of(SCORES)] * 2), "small")


@pytest.mark.parametrize(
    "complexity, error, match",
    [
        ({"small": 1, "big": 2}, ValueError, "tiny"),
        ({"small": 1, "big": "2", "tiny": 0}, TypeError, "complexity"),
        ([1, 2, 3], TypeError, "complexity"),
    ],
)
def test_one_se_rule_bad_complexity(complexity, error, match):
    with pytest.raises(error, match=match):
        one_standard_error_rule(folds_of(SCORES), complexity)


def test_one_se_rule_bad_flag():
    with pytest.raises(TypeError, match="higher_is_better"):
        one_standard_error_rule(folds_of(SCORES), {"tiny": 1, "small": 2, "big": 3}, higher_is_better="yes")
