import numpy as np
import pytest

from alwidgets import checks


def test_integer():
    assert checks.integer("n", np.int64(3), 1, 5) == 3
    for bad in (True, 2.0, "3", None):
        with pytest.raises(TypeError, match="n must be an integer"):
            checks.integer("n", bad)
    with pytest.raises(ValueError, match=r"n must be in \[1, 5\], got 7"):
        checks.integer("n", 7, 1, 5)


def test_choices_refuse_a_lone_string():
    assert checks.choices("strategies", ["a", "b"], ["a", "b", "c"]) == ["a", "b"]
    with pytest.raises(TypeError, match="list of names"):
        checks.choices("strategies", "entropy", ["entropy"])
    with pytest.raises(ValueError, match="strategies has unknown 'x'"):
        checks.choices("strategies", ["x"], ["entropy"])
    with pytest.raises(ValueError, match="duplicates"):
        checks.choices("strategies", ["a", "a"], ["a"])
    with pytest.raises(ValueError, match="empty"):
        checks.choices("strategies", [], ["a"])


def test_feature_splits_name_the_split():
    good = (np.zeros((3, 2)), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match=r"features\['pool'\] has NaN"):
        checks.feature_splits(
            {"train": good, "pool": (np.full((3, 2), np.nan), good[1])}, 2, ["train"]
        )
    with pytest.raises(ValueError, match="labels of 'test'"):
        checks.feature_splits({"test": (good[0], np.array([0, 1, 2]))}, 2, [])
    with pytest.raises(ValueError, match=r"features\['pool'\] has 4 columns"):
        checks.feature_splits(
            {"train": good, "pool": (np.zeros((3, 4)), good[1])}, 2, []
        )
    with pytest.raises(ValueError, match="no \\['validation'\\] split"):
        checks.feature_splits({"train": good}, 2, ["train", "validation"])
    with pytest.raises(TypeError, match="dict"):
        checks.feature_splits([good], 2, [])
