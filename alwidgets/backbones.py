"""Backbones: which network turns an image into features, and how to fine-tune it.

Route for the TF Hub backbone under Keras 3, without ``tensorflow_hub`` (a Keras 2
library that also installs a second TensorFlow). :func:`fetch_savedmodel` downloads
the compressed SavedModel once into the cache; :class:`HubBackbone` loads it with
``tf.saved_model.load`` and hands each of its ``tf.Variable``s to
``keras.Variable(initializer=...)``, which adopts the variable itself (Keras >= 3.10,
the route ``keras.layers.TFSMLayer`` uses). Keras then sees ordinary weights
(frozen or trainable, saved with the model) and the SavedModel's own function
reads the values the optimizer writes. Unlike ``TFSMLayer``, it passes the
SavedModel's ``training`` argument explicitly (see BatchNorm below).
``tests/test_backbones.py`` proves it on a local SavedModel with the hub interface.

Where the iNaturalist model comes from: ``ALWIDGETS_INATURALIST_HANDLE`` if set (a
local SavedModel folder, e.g. on a USB stick, or the URL of a mirror's
``.tar.gz``), else TF Hub's compressed download (now served by Kaggle Models).

BatchNorm: every backbone runs its BatchNorm layers in inference mode, frozen or
not (``training=False``). Their moving averages were estimated on millions of
images; re-estimating them from batches of 32 flowers would shift every feature
the head has learned, and fine-tuning would start by undoing stage 1. This is
what the Keras transfer-learning guide recommends. BatchNorm's scale and offset,
where the model has them, still train in stage 2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf
from tqdm.auto import tqdm

from . import checks, config
from .config import (
    INATURALIST_HANDLE,
    check_network,
    inaturalist_handle,
    model_folder,
)

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "HubBackbone",
    "fetch_savedmodel",
    "resolve_handle",
    "default_backbone",
    "weights_digest",
    "get_backbone",
    "build_classifier",
    "train_two_stage",
    "TqdmCallback",
]

#: TF Hub's way to ask for the SavedModel as one .tar.gz.
COMPRESSED = "?tf-hub-format=compressed"
#: The archive's sha256, to pin once measured (no network here to measure it): until
#: then the first download's digest is recorded in ``archive.sha256`` beside it.
INATURALIST_SHA256: str | None = None


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """A named backbone: what it is, the image size it wants, and how to build it."""

    name: str
    image_size: int
    description: str
    build: Callable[..., keras.Model]


@keras.saving.register_keras_serializable(package="alwidgets")
class HubBackbone(keras.layers.Layer):
    """A TF2 Reusable SavedModel (TF Hub format) as a fine-tunable Keras 3 layer.

    ``handle`` is a local SavedModel folder or the URL of a compressed one
    (``.tar.gz``, downloaded once by :func:`fetch_savedmodel`). The SavedModel must
    follow the hub interface: ``obj(images, training)``, ``obj.variables``,
    ``obj.trainable_variables``.
    """

    def __init__(self, handle: str, trainable: bool = False, **kwargs) -> None:
        super().__init__(trainable=trainable, **kwargs)
        if not isinstance(handle, str) or not handle:
            raise TypeError(f"handle must be a non-empty string, got {handle!r}")
        self.handle = handle
        self._module = tf.saved_model.load(str(resolve_handle(handle)))
        for attr in ("variables", "trainable_variables"):
            if not hasattr(self._module, attr):
                raise ValueError(
                    f"{handle} is not a Reusable SavedModel: it has no '{attr}'"
                )
        trainable_ids = {id(v) for v in self._module.trainable_variables}
        for i, variable in enumerate(self._module.variables):
            # Keras >= 3.10 adopts a tf.Variable given as initializer: the Keras
            # variable *is* the SavedModel's, so the optimizer's updates reach it.
            self._track_variable(
                keras.Variable(
                    initializer=variable,
                    trainable=id(variable) in trainable_ids,
                    name=variable.name.split(":")[0].replace("/", "_") or f"v{i}",
                )
            )
        self.built = True

    def call(self, images, training=None):
        # BatchNorm stays in inference mode, see the module docstring.
        return self._module(images, False)

    def get_config(self) -> dict:
        return {**super().get_config(), "handle": self.handle}


def fetch_savedmodel(url: str, folder: Path, sha256: str | None = None) -> Path:
    """Download the compressed SavedModel at ``url`` once and extract it to ``folder``.

    A folder that already holds ``saved_model.pb`` is used as it is, without
    touching the network. Otherwise: a network check (seconds, not minutes),
    the download (``keras.utils.get_file``, with a progress bar, verified against
    ``sha256`` when given), and the extraction into a temporary folder that is
    renamed to ``folder`` only once it holds a SavedModel. On any failure nothing
    is left behind. The archive's sha256 is written to ``folder/archive.sha256``.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"url must be an http(s) URL, got {url!r}")
    folder = Path(folder)
    if (folder / "saved_model.pb").exists():
        return folder
    parts = urllib.parse.urlsplit(url)
    check_network(
        parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        archive = keras.utils.get_file(
            "model.tar.gz",
            origin=url,
            file_hash=sha256,
            hash_algorithm="sha256",
            cache_dir=str(work),
            cache_subdir="download",
        )
        digest = hashlib.sha256(Path(archive).read_bytes()).hexdigest()
        extracted = work / "extracted"
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(extracted, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ValueError(
                f"{url} is not a readable .tar.gz archive: {exc}"
            ) from None
        found = sorted(extracted.rglob("saved_model.pb"))
        if not found:
            raise ValueError(f"the archive at {url} holds no saved_model.pb")
        (found[0].parent / "archive.sha256").write_text(digest + "\n")
        os.replace(found[0].parent, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def resolve_handle(handle: str) -> Path:
    """A local SavedModel folder for ``handle`` (a folder, or a URL fetched once)."""
    if os.path.isdir(handle):
        return Path(handle)
    if "://" not in handle:
        raise ValueError(f"{handle!r} is neither a local folder nor a URL")
    url = handle if handle.endswith((".tar.gz", ".tgz")) else handle + COMPRESSED
    sha256 = INATURALIST_SHA256 if handle == INATURALIST_HANDLE else None
    return fetch_savedmodel(url, model_folder(handle), sha256)


def _inaturalist(pretrained: bool = True, handle: str | None = None):
    inputs = keras.Input((299, 299, 3))
    if pretrained:
        handle = handle or inaturalist_handle()
        features = HubBackbone(handle, name="inaturalist_inception_v3")(inputs)
    else:  # same architecture and compute, random weights (for cost measurements)
        base = keras.applications.InceptionV3(
            include_top=False, weights=None, pooling="avg", input_shape=(299, 299, 3)
        )
        features = base(inputs, training=False)
    return keras.Model(inputs, features, name="inaturalist_inception_v3")


def _keras_app(app, size: int, name: str, weights_file: str):
    def build(pretrained: bool = True):
        keras_home = os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
        cached = os.path.exists(os.path.join(keras_home, "models", weights_file))
        if pretrained and not cached:
            check_network("storage.googleapis.com")
        inputs = keras.Input((size, size, 3))
        base = app(
            include_top=False,
            weights="imagenet" if pretrained else None,
            pooling="avg",
            input_shape=(size, size, 3),
        )
        # These networks expect pixels in [-1, 1]; ours arrive in [0, 1].
        x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
        return keras.Model(inputs, base(x, training=False), name=name)

    return build


#: The offline backbone's pre-trained weights, shipped with the package and
#: regenerated by ``tools/pretrain_offline.py`` (see its docstring).
TINY_WEIGHTS = "weights/tiny_offline.weights.h5"


def tiny_weights_path() -> Path:
    """Where the shipped weights of the offline backbone are."""
    import importlib.resources

    return Path(str(importlib.resources.files("alwidgets").joinpath(TINY_WEIGHTS)))


def weights_digest(name: str) -> str:
    """A short digest of the weights a backbone ships with ("" for downloaded ones).

    Part of the feature cache key: regenerated weights never reuse stale features.
    """
    checks.choice("backbone", name, list(BACKBONES))
    if name != "tiny_offline":
        return ""
    return hashlib.sha1(tiny_weights_path().read_bytes()).hexdigest()[:12]


def _tiny(pretrained: bool = True, seed: int = 0, weights: str | Path | None = None):
    """A small CNN: 4 convolutions, their average and max pooled, 480 features.

    ``pretrained=True`` loads the weights learned on the offline source task
    (:func:`alwidgets.data.make_source_shapes`: 32 other flower shapes in random
    colours, never the five target flowers) from ``weights`` (default: the file
    shipped with the package). ``pretrained=False`` gives fixed random weights
    (He initialisation with ``seed``): the same network that has learned nothing.
    """
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    pooled = []
    for i, filters in enumerate((16, 32, 64, 128)):
        x = keras.layers.Conv2D(
            filters,
            3,
            strides=2,
            padding="same",
            activation="relu",
            kernel_initializer=keras.initializers.HeNormal(seed=seed + i),
            name=f"conv{i}",
        )(x)
        pooled.append(keras.layers.GlobalAveragePooling2D()(x))
        pooled.append(keras.layers.GlobalMaxPooling2D()(x))
    features = keras.layers.Concatenate()(pooled)
    model = keras.Model(
        inputs, features, name="tiny_offline" if pretrained else "tiny_offline_random"
    )
    if pretrained:
        model.load_weights(str(weights or tiny_weights_path()))
    return model


def _tiny_random(pretrained: bool = True, seed: int = 0):
    # Always random: the baseline notebook 3 compares the pre-trained one with.
    return _tiny(pretrained=False, seed=seed)


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "inaturalist_inception_v3",
            299,
            "InceptionV3 pre-trained on iNaturalist (TF Hub), 2048 features",
            _inaturalist,
        ),
        BackboneSpec(
            "inception_v3_imagenet",
            299,
            "InceptionV3 pre-trained on ImageNet (keras.applications), 2048 features",
            _keras_app(
                keras.applications.InceptionV3,
                299,
                "inception_v3_imagenet",
                "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
            ),
        ),
        BackboneSpec(
            "mobilenet_v2_imagenet",
            160,
            "MobileNetV2 pre-trained on ImageNet (keras.applications), 1280 features",
            _keras_app(
                keras.applications.MobileNetV2,
                160,
                "mobilenet_v2_imagenet",
                "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5",
            ),
        ),
        BackboneSpec(
            "tiny_offline",
            64,
            "offline stand-in: a 4-layer CNN pre-trained on 32 other generated "
            "flower shapes, 480 features",
            _tiny,
        ),
        BackboneSpec(
            "tiny_offline_random",
            64,
            "the offline stand-in with random weights (learned nothing), 480 features",
            _tiny_random,
        ),
    )
}


def default_backbone(profile: str | None = None) -> str:
    """The backbone a profile uses: the article's on ``full``, the tiny one offline."""
    return config.profile(profile).backbone


def get_backbone(name: str | None = None, pretrained: bool = True, **kwargs):
    """Build backbone ``name`` (default: the profile's) as a Keras model.

    The model maps float images in [0, 1] of size ``BACKBONES[name].image_size``
    to one feature vector per image. ``pretrained=False`` gives random weights
    (same compute, no download).
    """
    name = default_backbone() if name is None else name
    checks.choice("backbone", name, list(BACKBONES))
    return BACKBONES[name].build(pretrained=pretrained, **kwargs)


def build_classifier(backbone: keras.Model, n_classes: int) -> keras.Model:
    """The backbone followed by one Dense softmax layer (the article's model)."""
    if not isinstance(backbone, keras.Model):
        raise TypeError(f"backbone must be a keras.Model, got {type(backbone)}")
    checks.integer("n_classes", n_classes, 2)
    inputs = keras.Input(backbone.input_shape[1:])
    features = backbone(inputs, training=False)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="head")(features)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_classifier")


class TqdmCallback(keras.callbacks.Callback):
    """One tqdm bar over epochs, with the latest metrics, for ``model.fit``."""

    def __init__(self, epochs: int, desc: str = "training") -> None:
        super().__init__()
        self.epochs, self.desc, self.bar = epochs, desc, None

    def on_train_begin(self, logs=None):
        self.bar = tqdm(total=self.epochs, desc=self.desc, unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in (logs or {}).items()})
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()


def _compile(model: keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def train_two_stage(
    model: keras.Model,
    backbone: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None = None,
    head_epochs: int = 3,
    finetune_epochs: int = 2,
    head_lr: float = 1e-3,
    finetune_lr: float = 1e-5,
) -> dict[str, list[float]]:
    """The article's transfer learning: head only, then everything at a low rate.

    Stage 1 freezes ``backbone`` and trains the head ``head_epochs`` epochs.
    Stage 2 unfreezes it and **recompiles** with ``finetune_lr``, then trains
    ``finetune_epochs`` more. The recompile matters: Keras builds its training
    step at the first ``fit`` after ``compile`` and reuses it, so a backbone
    unfrozen after stage 1 would stay frozen without one (notebook 3 shows it). ``train`` and
    ``validation`` are batched. Returns the concatenated history, with a
    ``stage`` entry per epoch.
    """
    checks.integer("head_epochs", head_epochs, 0)
    checks.integer("finetune_epochs", finetune_epochs, 0)
    checks.number("head_lr", head_lr, 0, 1)
    checks.number("finetune_lr", finetune_lr, 0, 1)
    if backbone not in model.layers:
        raise ValueError("backbone must be a layer of model (use build_classifier)")
    history: dict[str, list[float]] = {"stage": []}
    for stage, epochs, lr, trainable in (
        (1, head_epochs, head_lr, False),
        (2, finetune_epochs, finetune_lr, True),
    ):
        if epochs == 0:
            continue
        backbone.trainable = trainable
        _compile(model, lr)
        h = model.fit(
            train,
            validation_data=validation,
            epochs=epochs,
            shuffle=False,  # a dataset is shuffled by its own pipeline
            verbose=0,
            callbacks=[TqdmCallback(epochs, f"stage {stage}")],
        )
        for key, values in h.history.items():
            history.setdefault(key, []).extend(values)
        history["stage"].extend([stage] * epochs)
    return history
