import keras
import numpy as np
import pytest
import tensorflow as tf

from alwidgets import backbones


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
    layer = backbones.HubBackbone(stub_handle)
    assert not layer.trainable
    assert len(layer.weights) == 2
    layer.trainable = True
    assert len(layer.trainable_weights) == 1  # the moving mean never trains
    out = layer(tf.ones([2, 5, 5, 3]))
    assert out.shape == (2, 16)


def test_frozen_then_finetuned_hub_backbone(stub_handle):
    backbone = backbones.get_backbone("inaturalist_inception_v3", handle=stub_handle)
    hub_layer = backbone.get_layer("inaturalist_inception_v3")
    model = backbones.build_classifier(backbone, 3)
    head = model.get_layer("head")
    ds = _toy()
    before_backbone, before_head = _weights(hub_layer), _weights(head)

    history = backbones.train_two_stage(
        model, backbone, ds, head_epochs=2, finetune_epochs=0, head_lr=0.05
    )
    assert history["stage"] == [1, 1]
    for a, b in zip(before_backbone, _weights(hub_layer)):
        np.testing.assert_array_equal(a, b)  # frozen: unchanged by fit
    assert not np.allclose(before_head[0], head.weights[0].numpy())

    backbones.train_two_stage(
        model, backbone, ds, head_epochs=0, finetune_epochs=2, finetune_lr=0.05
    )
    kernel_before, mean_before = before_backbone
    kernel_after, mean_after = _weights(hub_layer)
    assert not np.allclose(kernel_before, kernel_after)  # unfrozen: fine-tuned
    np.testing.assert_array_equal(mean_before, mean_after)  # BatchNorm inference


def test_keras_applications_backbones_build_offline():
    backbone = backbones.get_backbone("mobilenet_v2_imagenet", pretrained=False)
    assert backbone.output_shape == (None, 1280)
    assert backbone.input_shape == (None, 160, 160, 3)


def test_unknown_backbone():
    with pytest.raises(ValueError, match="unknown backbone"):
        backbones.get_backbone("resnet9000")
    with pytest.raises(TypeError):
        backbones.get_backbone(3)


def test_bad_hub_handle(tmp_path):
    with pytest.raises(ValueError, match="neither a local folder nor a URL"):
        backbones.HubBackbone(str(tmp_path / "missing"))


def test_tiny_backbone_fine_tunes():
    backbone = backbones.get_backbone("tiny_offline")
    model = backbones.build_classifier(backbone, 3)
    conv = backbone.get_layer("conv0")
    before = conv.kernel.numpy().copy()
    ds = _toy(size=64)
    backbones.train_two_stage(model, backbone, ds, head_epochs=1, finetune_epochs=0)
    np.testing.assert_array_equal(before, conv.kernel.numpy())
    backbones.train_two_stage(
        model, backbone, ds, head_epochs=0, finetune_epochs=1, finetune_lr=1e-2
    )
    assert not np.allclose(before, conv.kernel.numpy())


def test_train_two_stage_bad_input():
    backbone = backbones.get_backbone("tiny_offline")
    model = backbones.build_classifier(backbone, 3)
    ds = _toy(size=64)
    with pytest.raises(ValueError, match="head_epochs"):
        backbones.train_two_stage(model, backbone, ds, head_epochs=-1)
    with pytest.raises(ValueError, match="finetune_lr"):
        backbones.train_two_stage(model, backbone, ds, finetune_lr=5)
    with pytest.raises(ValueError, match="layer of model"):
        backbones.train_two_stage(model, backbones.get_backbone("tiny_offline"), ds)
    with pytest.raises(ValueError, match="n_classes"):
        backbones.build_classifier(backbone, 1)


def test_backbone_names_cover_the_article_and_its_exercise():
    assert {"inaturalist_inception_v3", "inception_v3_imagenet"} <= set(
        backbones.BACKBONES
    )
    assert backbones.default_backbone("full") == "inaturalist_inception_v3"
    assert backbones.default_backbone("offline") == "tiny_offline"
    assert isinstance(backbones.get_backbone("tiny_offline"), keras.Model)


def test_hub_url_without_network_fails_fast(tmp_path, monkeypatch, no_network):
    import time

    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ALWIDGETS_INATURALIST_HANDLE", raising=False)
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="offline"):
        backbones.get_backbone("inaturalist_inception_v3")
    assert time.monotonic() - start < 15
    assert not any(tmp_path.rglob("*.pb")) and not any(tmp_path.rglob(".*"))


# --- the hub route without tensorflow_hub ---------------------------------------------


def test_hub_backbone_adopts_the_savedmodels_variables(stub_handle):
    layer = backbones.HubBackbone(stub_handle)
    module_vars = {id(v) for v in layer._module.variables}
    # The public route: each Keras variable's storage is the SavedModel's variable.
    assert {id(w.value) for w in layer.weights} == module_vars
    assert "_initialize" not in vars(type(layer.weights[0]))


def test_finetuned_hub_classifier_saves_and_loads(stub_handle, tmp_path):
    backbone = backbones.get_backbone("inaturalist_inception_v3", handle=stub_handle)
    model = backbones.build_classifier(backbone, 3)
    backbones.train_two_stage(
        model, backbone, _toy(), head_epochs=1, finetune_epochs=1, finetune_lr=0.05
    )
    x = next(iter(_toy()))[0]
    expected = model(x).numpy()
    path = tmp_path / "classifier.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    hub = backbone.get_layer("inaturalist_inception_v3")
    loaded_hub = loaded.get_layer(backbone.name).get_layer("inaturalist_inception_v3")
    for a, b in zip(_weights(hub), _weights(loaded_hub)):
        np.testing.assert_array_equal(a, b)  # the fine-tuned weights, not the file's


def test_inaturalist_handle_from_the_environment(stub_handle, monkeypatch):
    monkeypatch.setenv("ALWIDGETS_INATURALIST_HANDLE", stub_handle)
    backbone = backbones.get_backbone("inaturalist_inception_v3")
    assert backbone.get_layer("inaturalist_inception_v3").handle == stub_handle
    assert backbone.output_shape == (None, 16)


@pytest.fixture(scope="module")
def model_server(stub_handle, tmp_path_factory):
    """A local HTTP server (127.0.0.1) serving a good, a corrupt and a wrong archive."""
    import functools
    import http.server
    import tarfile
    import threading

    root = tmp_path_factory.mktemp("served")
    with tarfile.open(root / "good.tar.gz", "w:gz") as tar:
        tar.add(stub_handle, arcname=".")
    good = (root / "good.tar.gz").read_bytes()
    (root / "corrupt.tar.gz").write_bytes(good[: len(good) // 2])
    with tarfile.open(root / "empty.tar.gz", "w:gz") as tar:
        (root / "README").write_text("no model here")
        tar.add(root / "README", arcname="README")
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(root)
    )
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", root
    server.shutdown()


def _left_behind(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_and_extract_from_a_local_server(model_server, tmp_path, monkeypatch):
    import hashlib

    url, root = model_server
    digest = hashlib.sha256((root / "good.tar.gz").read_bytes()).hexdigest()
    target = tmp_path / "models" / "stub"
    path = backbones.fetch_savedmodel(f"{url}/good.tar.gz", target, sha256=digest)
    assert path == target and (target / "saved_model.pb").exists()
    assert (target / "archive.sha256").read_text().strip() == digest
    assert _left_behind(target.parent) == ["stub"]  # no temporary folder left

    # Present: no network at all (a second call with the server's URL gone).
    def refuse_network_check(*args, **kwargs):
        raise AssertionError("the network was checked although the model is present")

    monkeypatch.setattr(backbones, "check_network", refuse_network_check)
    assert (
        backbones.fetch_savedmodel("http://nowhere.invalid/x.tar.gz", target) == target
    )

    # And through HubBackbone with a URL handle, cached under ALWIDGETS_CACHE_DIR.
    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.undo()
    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path / "cache"))
    layer = backbones.HubBackbone(f"{url}/good.tar.gz")
    assert layer(tf.ones([1, 5, 5, 3])).shape == (1, 16)


@pytest.mark.parametrize(
    "name, sha256, words",
    [
        ("corrupt.tar.gz", None, "not a readable .tar.gz"),
        ("good.tar.gz", "0" * 64, "hash does not match"),
        ("empty.tar.gz", None, "holds no saved_model.pb"),
        ("missing.tar.gz", None, "404"),
    ],
)
def test_bad_downloads_leave_nothing_behind(
    model_server, tmp_path, name, sha256, words
):
    url, _ = model_server
    target = tmp_path / "models" / "stub"
    with pytest.raises(Exception, match=words):
        backbones.fetch_savedmodel(f"{url}/{name}", target, sha256=sha256)
    assert _left_behind(target.parent) == []


def test_fetch_savedmodel_bad_url(tmp_path):
    with pytest.raises(ValueError, match="URL"):
        backbones.fetch_savedmodel("not a url", tmp_path / "x")


def test_tfsmlayer_still_cannot_be_fine_tuned_with_the_pinned_keras(tmp_path):
    """Why HubBackbone exists; if this starts passing, simplify and fix the README."""

    class Plain(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tf.random.stateless_normal([3, 16], [1, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, images):
            return tf.matmul(tf.reduce_mean(images, axis=[1, 2]), self.kernel)

    tf.saved_model.save(Plain(), str(tmp_path / "plain"))
    layer = keras.layers.TFSMLayer(
        str(tmp_path / "plain"), call_endpoint="serving_default", trainable=True
    )
    inputs = keras.Input((8, 8, 3))
    features = layer(inputs)
    features = features["output_0"] if isinstance(features, dict) else features
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(features))
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 8, 8, 3)).astype("float32")
    with pytest.raises(ValueError, match="not a valid scope name"):
        model.fit(x, np.zeros(8, "int64"), epochs=1, verbose=0)
