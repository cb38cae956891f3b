import warnings

import numpy as np
import pytest
import tensorflow as tf

from alwidgets import backbones, data, features


def test_feature_cache_hits_and_rebuilds(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path))
    splits = data.load_splits("offline")
    calls = []
    real = backbones.get_backbone
    monkeypatch.setattr(
        features, "get_backbone", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    first = features.cached_features(splits, split_names=("train", "test"))
    assert len(calls) == 1
    assert first["train"][0].shape == (splits.sizes["train"], 480)
    np.testing.assert_array_equal(first["train"][1], data.labels_of(splits.train))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = features.cached_features(splits, split_names=("train", "test"))
    assert len(calls) == 1  # the second run hits the cache
    np.testing.assert_array_equal(first["test"][0], second["test"][0])

    path = next((tmp_path / "features").glob("*-test-*.npz"))
    path.write_bytes(path.read_bytes()[:100])  # truncated file
    with pytest.warns(UserWarning, match="unreadable"):
        third = features.cached_features(splits, split_names=("test",))
    np.testing.assert_allclose(third["test"][0], first["test"][0], rtol=1e-5)

    np.savez(path, features=np.zeros((3, 480)), labels=np.zeros(3), cache_key="other")
    with pytest.warns(UserWarning, match="does not match"):
        fourth = features.cached_features(splits, split_names=("test",))
    assert fourth["test"][0].shape == (splits.sizes["test"], 480)


def test_extract_features_matches_the_backbone():
    backbone = backbones.get_backbone("tiny_offline")
    x = np.random.default_rng(0).random((10, 64, 64, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(10))).batch(4)
    feats, labels = features.extract_features(backbone, ds)
    np.testing.assert_allclose(feats, backbone(x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, np.arange(10))


def test_cached_features_bad_input():
    splits = data.load_splits("offline")
    with pytest.raises(TypeError, match="load_splits"):
        features.cached_features({"train": None})
    with pytest.raises(ValueError, match="unknown backbone"):
        features.cached_features(splits, "resnet9000")
    with pytest.raises(TypeError, match="list of names"):
        features.cached_features(splits, split_names="train")
    with pytest.raises(ValueError, match="split_names has unknown"):
        features.cached_features(splits, split_names=("train", "unlabelled"))


def test_new_backbone_weights_never_reuse_stale_features(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path))
    splits = data.load_splits("offline")
    first = features.cached_features(splits, split_names=("validation",))
    # The same network, other weights (as after re-running tools/pretrain_offline.py).
    other = tmp_path / "other.weights.h5"
    backbones.get_backbone("tiny_offline_random").save_weights(str(other))
    monkeypatch.setattr(backbones, "tiny_weights_path", lambda: other)
    second = features.cached_features(splits, split_names=("validation",))
    assert not np.allclose(first["validation"][0], second["validation"][0])
    assert len(list((tmp_path / "features").glob("*.npz"))) == 2
