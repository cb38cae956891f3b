import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from alwidgets import data, models


class _StubBackbone(tf.Module):
    """Tiny stand-in with the iNaturalist SavedModel's interface."""

    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(tf.random.stateless_normal([3, 16], [1, 2]))
        self.moving_mean = tf.Variable(tf.zeros([16]), trainable=False)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.float32),
            tf.TensorSpec([], tf.bool),
        ]
    )
    def __call__(self, images, training):
        pooled = tf.reduce_mean(images, axis=[1, 2])
        hidden = tf.matmul(pooled, self.kernel)

        def update():  # what a BatchNorm layer does in training mode
            self.moving_mean.assign(tf.reduce_mean(hidden, axis=0))
            return hidden

        hidden = tf.cond(training, update, lambda: hidden)
        return tf.nn.relu(hidden - self.moving_mean)


@pytest.fixture(scope="module")
def stub_handle(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("hub") / "stub")
    module = _StubBackbone()
    root = tf.train.Checkpoint()
    root.module = module
    root.variables = [module.kernel, module.moving_mean]
    root.trainable_variables = [module.kernel]
    root.regularization_losses = []
    root.__call__ = module.__call__
    tf.saved_model.save(root, path)
    return path


def _toy(n=64, size=299):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = rng.random((n, 8, 8, 3)).astype("float32") * 0.2
    x[..., 0] += (y == 0)[:, None, None] * 0.8  # learnable from colour
    x[..., 1] += (y == 1)[:, None, None] * 0.8
    x = tf.image.resize(x, (size, size)).numpy()
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def _weights(layer):
    return [w.numpy().copy() for w in layer.weights]


def test_hub_backbone_is_a_keras3_layer_with_adopted_weights(stub_handle):
    layer = models.HubBackbone(stub_handle)
    assert not layer.trainable
    assert len(layer.weights) == 2
    layer.trainable = True
    assert len(layer.trainable_weights) == 1  # the moving mean never trains
    out = layer(tf.ones([2, 5, 5, 3]))
    assert out.shape == (2, 16)


def test_frozen_then_finetuned_hub_backbone(stub_handle):
    backbone = models.get_backbone("inaturalist_inception_v3", handle=stub_handle)
    hub_layer = backbone.get_layer("inaturalist_inception_v3")
    model = models.build_classifier(backbone, 3)
    head = model.get_layer("head")
    ds = _toy()
    before_backbone, before_head = _weights(hub_layer), _weights(head)

    history = models.train_two_stage(
        model, backbone, ds, head_epochs=2, finetune_epochs=0, head_lr=0.05
    )
    assert history["stage"] == [1, 1]
    for a, b in zip(before_backbone, _weights(hub_layer)):
        np.testing.assert_array_equal(a, b)  # frozen: unchanged by fit
    assert not np.allclose(before_head[0], head.weights[0].numpy())

    models.train_two_stage(
        model, backbone, ds, head_epochs=0, finetune_epochs=2, finetune_lr=0.05
    )
    kernel_before, mean_before = before_backbone
    kernel_after, mean_after = _weights(hub_layer)
    assert not np.allclose(kernel_before, kernel_after)  # unfrozen: fine-tuned
    np.testing.assert_array_equal(mean_before, mean_after)  # BatchNorm inference


def test_keras_applications_backbones_build_offline():
    backbone = models.get_backbone("mobilenet_v2_imagenet", pretrained=False)
    assert backbone.output_shape == (None, 1280)
    assert backbone.input_shape == (None, 160, 160, 3)


def test_unknown_backbone():
    with pytest.raises(ValueError, match="unknown backbone"):
        models.get_backbone("resnet9000")
    with pytest.raises(TypeError):
        models.get_backbone(3)


def test_bad_hub_handle(tmp_path):
    with pytest.raises(ValueError, match="neither a local folder nor a URL"):
        models.HubBackbone(str(tmp_path / "missing"))


def test_tiny_backbone_fine_tunes():
    backbone = models.get_backbone("tiny_offline")
    model = models.build_classifier(backbone, 3)
    conv = backbone.get_layer("conv0")
    before = conv.kernel.numpy().copy()
    ds = _toy(size=64)
    models.train_two_stage(model, backbone, ds, head_epochs=1, finetune_epochs=0)
    np.testing.assert_array_equal(before, conv.kernel.numpy())
    models.train_two_stage(
        model, backbone, ds, head_epochs=0, finetune_epochs=1, finetune_lr=1e-2
    )
    assert not np.allclose(before, conv.kernel.numpy())


def test_train_two_stage_bad_input():
    backbone = models.get_backbone("tiny_offline")
    model = models.build_classifier(backbone, 3)
    ds = _toy(size=64)
    with pytest.raises(ValueError, match="head_epochs"):
        models.train_two_stage(model, backbone, ds, head_epochs=-1)
    with pytest.raises(ValueError, match="finetune_lr"):
        models.train_two_stage(model, backbone, ds, finetune_lr=5)
    with pytest.raises(ValueError, match="layer of model"):
        models.train_two_stage(model, models.get_backbone("tiny_offline"), ds)
    with pytest.raises(ValueError, match="n_classes"):
        models.build_classifier(backbone, 1)


def test_feature_cache_hits_and_rebuilds(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path))
    splits = data.load_splits("offline")
    calls = []
    real = models.get_backbone
    monkeypatch.setattr(
        models, "get_backbone", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    first = models.cached_features(splits, split_names=("train", "test"))
    assert len(calls) == 1
    assert first["train"][0].shape == (100, 224)
    np.testing.assert_array_equal(first["train"][1], data.labels_of(splits.train))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = models.cached_features(splits, split_names=("train", "test"))
    assert len(calls) == 1  # the second run hits the cache
    np.testing.assert_array_equal(first["test"][0], second["test"][0])

    path = next((tmp_path / "features").glob("*-test-*.npz"))
    path.write_bytes(path.read_bytes()[:100])  # truncated file
    with pytest.warns(UserWarning, match="unreadable"):
        third = models.cached_features(splits, split_names=("test",))
    np.testing.assert_allclose(third["test"][0], first["test"][0], rtol=1e-5)

    np.savez(path, features=np.zeros((3, 224)), labels=np.zeros(3), key="other")
    with pytest.warns(UserWarning, match="does not match"):
        fourth = models.cached_features(splits, split_names=("test",))
    assert fourth["test"][0].shape == (200, 224)


def test_train_head_is_deterministic_and_learns():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = rng.normal(size=(300, 10)).astype("float32")
    x[np.arange(300), y] += 3.0
    head_a, hist = models.train_head(x, y, 3, epochs=10, progress=False)
    head_b, _ = models.train_head(x, y, 3, epochs=10, progress=False)
    pa, pb = head_a(x).numpy(), head_b(x).numpy()
    np.testing.assert_array_equal(pa, pb)
    assert (pa.argmax(1) == y).mean() > 0.9
    assert len(hist["loss"]) == 10


@pytest.mark.parametrize(
    "args, words",
    [
        ((np.zeros((0, 3)), np.zeros(0, int), 3), "non-empty"),
        ((np.zeros((4, 3)), np.zeros(3, int), 3), "labels"),
        ((np.zeros((4, 3)), np.array([0, 1, 2, 5]), 3), r"\[0, 3\)"),
        ((np.zeros((4, 3)), np.zeros(4, int), 1), "n_classes"),
    ],
)
def test_train_head_bad_input(args, words):
    with pytest.raises(ValueError, match=words):
        models.train_head(*args, progress=False)


def test_backbone_names_cover_the_article_and_its_exercise():
    assert {"inaturalist_inception_v3", "inception_v3_imagenet"} <= set(
        models.BACKBONES
    )
    assert models.default_backbone("full") == "inaturalist_inception_v3"
    assert models.default_backbone("offline") == "tiny_offline"
    assert isinstance(models.get_backbone("tiny_offline"), keras.Model)


def test_hub_url_without_network_fails_fast(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="offline"):
        models.get_backbone("inaturalist_inception_v3")
    assert time.monotonic() - start < 15


def test_extract_features_matches_the_backbone():
    backbone = models.get_backbone("tiny_offline")
    x = np.random.default_rng(0).random((10, 64, 64, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(10))).batch(4)
    feats, labels = models.extract_features(backbone, ds)
    np.testing.assert_allclose(feats, backbone(x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, np.arange(10))
