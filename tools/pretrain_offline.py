"""Pre-train the offline backbone on its source task and write its weights.

The offline profile's stand-in for iNaturalist: the tiny CNN of
``alwidgets.backbones`` learns to tell apart 32 generated flower shapes (petal
counts, petal depths and centre sizes that none of the five target flowers has)
drawn in random colours (``alwidgets.data.make_source_shapes``). It never sees the
five target classes. Its softmax layer is then dropped and the convolutions'
weights are written to ``alwidgets/weights/tiny_offline.weights.h5``.

Deterministic: the data come from fixed seeds, the weights start from seeded He
initialisation, the batches are drawn with a fixed seed, and TensorFlow runs with
op determinism on. Same TensorFlow, same CPU kind: same file contents.

    .venv/bin/python tools/pretrain_offline.py            # writes the shipped file
    .venv/bin/python tools/pretrain_offline.py --check    # compares with it

About three minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from alwidgets import backbones, data  # noqa: E402

#: The shipped run: images of the source task, epochs, batch, learning rate, seed.
N_IMAGES = 12000
EPOCHS = 20
BATCH = 64
LEARNING_RATE = 2e-3
SEED = 0


def pretrain(
    n_images: int = N_IMAGES,
    epochs: int = EPOCHS,
    seed: int = SEED,
    batch: int = BATCH,
    learning_rate: float = LEARNING_RATE,
    verbose: int = 0,
) -> tuple[keras.Model, dict]:
    """Train the tiny backbone (+ a softmax layer) on the source task.

    Returns the backbone (without the softmax) and a report: source-task
    accuracy on held-out images, images and epochs.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    images, labels = data.make_source_shapes(n_images, seed=seed + 1)
    held_x, held_y = data.make_source_shapes(max(200, n_images // 10), seed=seed + 2)
    x = images.astype("float32") / 255.0
    backbone = backbones.get_backbone("tiny_offline", pretrained=False, seed=seed)
    inputs = keras.Input((64, 64, 3))
    outputs = keras.layers.Dense(
        data.SOURCE_CLASSES,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="source_head",
    )(backbone(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(
        # The learning rate decays to 0 along a cosine over all steps.
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(
                learning_rate, epochs * -(-n_images // batch)
            )
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    order = np.random.default_rng(seed)
    for _ in range(epochs):  # our own shuffling: the same batches every run
        p = order.permutation(len(x))
        model.fit(
            x[p], labels[p], batch_size=batch, epochs=1, shuffle=False, verbose=verbose
        )
    probs = model.predict(held_x.astype("float32") / 255.0, verbose=0)
    report = {
        "source_classes": data.SOURCE_CLASSES,
        "images": n_images,
        "epochs": epochs,
        "held_out_accuracy": float((probs.argmax(1) == held_y).mean()),
    }
    return backbone, report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=backbones.tiny_weights_path())
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument(
        "--images", type=int, default=N_IMAGES, help="a quick run: fewer"
    )
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="a quick run: fewer")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    backbone, report = pretrain(args.images, args.epochs)
    print(
        f"source task: {report['source_classes']} classes, {report['images']} images, "
        f"{report['epochs']} epochs; held-out accuracy {report['held_out_accuracy']:.1%}"
        f" ({time.perf_counter() - start:.0f} s)"
    )
    if args.check:
        shipped = backbones.get_backbone("tiny_offline")
        worst = max(
            float(np.abs(a - b).max())
            for a, b in zip(shipped.get_weights(), backbone.get_weights())
        )
        print(f"largest difference from {args.out}: {worst:.3g}")
        return 0 if worst < 1e-4 else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    backbone.save_weights(str(args.out))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
