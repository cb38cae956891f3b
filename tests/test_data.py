import time
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from alwidgets import data, offline_images


def test_article_split():
    assert data.split_slices(3670) == {
        "train": "train[:1000]",
        "validation": "train[1000:1500]",
        "test": "train[1500:2500]",
        "pool": "train[2500:]",
    }


@pytest.mark.parametrize(
    "sizes, words",
    [
        ({"train": 3000, "validation": 500, "test": 170}, "leaves no pool"),
        ({"train": 0, "validation": 500, "test": 1000}, r"'train' must be in \[1"),
        ({"train": 1.5, "validation": 500, "test": 1000}, "must be an integer"),
        ({"train": 10, "validation": 5}, "exactly train, validation and test"),
    ],
)
def test_bad_split_sizes(sizes, words):
    with pytest.raises((ValueError, TypeError), match=words):
        data.split_slices(3670, sizes)


def test_offline_flowers_are_deterministic_and_varied():
    a, ya, ia = offline_images.make_offline_flowers(
        300, seed=3
    )  # time: tools/benchmark.py
    b, yb, ib = offline_images.make_offline_flowers(300, seed=3)
    c, _, _ = offline_images.make_offline_flowers(300, seed=4)
    assert a.dtype == np.uint8 and a.shape == (300, 64, 64, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(ia, ib)
    assert not np.array_equal(a, c)
    assert set(ya.tolist()) == set(range(5))
    assert ia.dtype == offline_images.INFO_DTYPE and len(ia) == 300
    kinds = offline_images.hard_kinds(ia)
    # each kind of hard image at about its share; most images are typical
    assert 0.03 < kinds["rare sub-type"].mean() < 0.18
    assert 0.08 < kinds["near boundary"].mean() < 0.25
    assert 0.04 < kinds["noisy"].mean() < 0.18
    assert 0.5 < kinds["typical"].mean() < 0.8
    assert np.all(ia["mix_with"] != ya)  # a mix is always with another class
    assert np.all((ia["mix"] == 0) == (ia["mix_with"] == -1))
    assert ia["mix"].max() < 0.5  # labelled with the closer class


def test_why_hard_says_what_was_generated():
    _, y, info = offline_images.make_offline_flowers(200, seed=1)
    words = offline_images.why_hard(info)
    kinds = offline_images.hard_kinds(info)
    assert len(words) == 200
    for i, text in enumerate(words):
        assert (text == "typical") == kinds["typical"][i]
        assert ("rare sub-type" in text) == bool(info["rare"][i])
        if info["mix_with"][i] >= 0:
            assert f"towards {offline_images.FLOWER_NAMES[info['mix_with'][i]]}" in text
    named = offline_images.why_hard(info, y)
    for i in np.flatnonzero(info["rare"]):
        assert f"rare sub-type ({offline_images.RARE_SUBTYPES[y[i]]})" in named[i]
    assert [w for w, r in zip(named, info["rare"]) if not r] == [
        w for w, r in zip(words, info["rare"]) if not r
    ]
    with pytest.raises(TypeError, match="make_offline_flowers"):
        offline_images.why_hard(np.zeros(3))
    with pytest.raises(ValueError, match="labels"):
        offline_images.why_hard(info, y[:5])


def test_offline_hard_images_are_harder_for_a_colour_classifier():
    x, y, info = offline_images.make_offline_flowers(1500, seed=0)
    kinds = offline_images.hard_kinds(info)
    # a nearest-class-mean classifier on colour histograms (coarse, 4 levels/channel)
    q = (x // 64).reshape(len(x), -1, 3).astype(np.int64)
    codes = q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]
    hist = np.stack([np.bincount(c, minlength=64) for c in codes]) / codes.shape[1]
    train = np.arange(len(x)) < 1000
    means = np.stack([hist[train & (y == k)].mean(0) for k in range(5)])
    pred = ((hist[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    correct = (pred == y)[~train]
    typical = kinds["typical"][~train]
    rare = kinds["rare sub-type"][~train]
    # colour alone is a weak cue (classes share colours) and fails the rare sub-types
    assert 0.3 < correct.mean() < 0.8
    assert correct[rare].mean() < correct[typical].mean() - 0.15  # measured: 0.19


def test_source_task_is_not_the_target_task():
    x, y = offline_images.make_source_shapes(200, seed=5)
    x2, y2 = offline_images.make_source_shapes(200, seed=5)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert x.shape == (200, 64, 64, 3) and y.max() < offline_images.SOURCE_CLASSES
    assert len(set(y.tolist())) > offline_images.SOURCE_CLASSES // 2
    target_counts = {kind[0] for kind in offline_images.KINDS.values()}
    assert not target_counts & set(offline_images.SOURCE_COUNTS)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"n": 5, "size": 8},
        {"n": 5, "mix": 1.5},
        {"n": 5, "rare": -0.1},
        {"n": 5, "noisy": "a"},
        {"n": "5"},
    ],
)
def test_offline_bad_input(kwargs):
    with pytest.raises(ValueError):
        offline_images.make_offline_flowers(**kwargs)


def test_more_classes_add_new_kinds_after_the_five():
    x, y, info = offline_images.make_offline_flowers(300, seed=3, classes=12)
    x2, y2, info2 = offline_images.make_offline_flowers(300, seed=3, classes=12)
    np.testing.assert_array_equal(x, x2)  # deterministic
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(info, info2)
    assert x.dtype == np.uint8 and x.shape == (300, 64, 64, 3) and y.dtype == np.int64
    assert set(y.tolist()) == set(range(12))
    assert info["mix_with"].max() < 12 and np.all(info["mix_with"] != y)
    # the default is the offline profile's five-class data, bit for bit
    for a, b in zip(
        offline_images.make_offline_flowers(60, seed=3),
        offline_images.make_offline_flowers(60, seed=3, classes=5),
    ):
        np.testing.assert_array_equal(a, b)
    names = offline_images.flower_names(12)
    assert offline_images.flower_names() == offline_images.FLOWER_NAMES == names[:5]
    assert len(set(offline_images.flower_names(offline_images.MAX_CLASSES))) == 15
    # every kind has its own shape, and the new ones are new to the backbone too
    shapes = {kind[:3] for kind in offline_images.ALL_KINDS.values()}
    assert len(shapes) == offline_images.MAX_CLASSES
    new_counts = {offline_images.ALL_KINDS[name][0] for name in names[5:]}
    assert not new_counts & set(offline_images.SOURCE_COUNTS)
    # why_hard names the new kinds
    words = offline_images.why_hard(info, y)
    for i in np.flatnonzero(info["mix_with"] >= 5):
        assert f"towards {names[info['mix_with'][i]]}" in words[i]
    for i in np.flatnonzero(info["rare"] & (y >= 5)):
        assert offline_images.RARE_SUBTYPES[y[i]] in words[i]


@pytest.mark.parametrize(
    "classes, error",
    [(4, ValueError), (16, ValueError), (10.0, TypeError), ("10", TypeError)],
)
def test_more_classes_bad_input(classes, error):
    with pytest.raises(error, match="^classes must"):
        offline_images.make_offline_flowers(5, classes=classes)
    with pytest.raises(error, match="^classes must"):
        offline_images.flower_names(classes)
    with pytest.raises(error, match="^classes must"):
        data.load_splits("offline", classes=classes)


def test_more_classes_splits_are_cached_apart(tmp_path, monkeypatch):
    import dataclasses

    from alwidgets import config

    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path))
    small = {"train": 30, "validation": 20, "test": 20, "pool": 30}
    record = dataclasses.replace(config.PROFILES["offline"], sizes=small)
    monkeypatch.setitem(config.PROFILES, "offline", record)
    five = data.load_splits("offline")
    many = data.load_splits("offline", classes=15)
    assert many.class_names == offline_images.flower_names(15)
    assert many.sizes == five.sizes == small
    assert many.fingerprint != five.fingerprint  # its own features and heads
    assert len(list((tmp_path / "data").glob("*.npz"))) == 2
    _, labels, info = offline_images.make_offline_flowers(100, seed=0, classes=15)
    np.testing.assert_array_equal(data.labels_of(many.pool), labels[70:])
    np.testing.assert_array_equal(
        data.offline_info("pool", profile="offline", classes=15), info[70:]
    )
    with pytest.raises(ValueError, match="classes=10 needs the offline profile"):
        data.load_splits("full", classes=10)  # refused before any download


def test_offline_info_follows_the_splits():
    splits = data.load_splits("offline")
    pool = data.offline_info("pool", profile="offline")
    assert len(pool) == splits.sizes["pool"]
    total = sum(splits.sizes.values())
    _, labels, info = offline_images.make_offline_flowers(
        total, seed=offline_images.OFFLINE_SEED
    )
    start = total - splits.sizes["pool"]
    np.testing.assert_array_equal(pool, info[start:])
    np.testing.assert_array_equal(data.labels_of(splits.pool), labels[start:])
    test = data.offline_info("test", profile="offline")
    a = splits.sizes["train"] + splits.sizes["validation"]
    np.testing.assert_array_equal(test, info[a : a + splits.sizes["test"]])
    with pytest.raises(ValueError, match="offline profile"):
        data.offline_info("pool", profile="full")
    with pytest.raises(ValueError, match="unknown split"):
        data.offline_info("unlabelled", profile="offline")


def test_offline_splits_are_disjoint_and_sized():
    splits = data.load_splits("offline")
    assert splits.class_names == offline_images.FLOWER_NAMES
    images = {}
    for name, n in splits.profile.sizes.items():
        arr = np.stack([x for x, _ in splits[name].as_numpy_iterator()])
        assert len(arr) == n == splits.sizes[name]
        images[name] = {a.tobytes() for a in arr}
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not images[a] & images[b], f"{a} and {b} overlap"


def test_offline_cache_survives_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path))
    first = data.labels_of(data.load_splits("offline").pool)
    (path,) = (tmp_path / "data").glob("*.npz")
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable"):
        again = data.load_splits("offline")
    np.testing.assert_array_equal(data.labels_of(again.pool), first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten cache is read silently
        data.load_splits("offline")


@pytest.fixture
def tf_flowers_metadata(tmp_path):
    """tf_flowers' real metadata (3,670 examples in 'train'), for mock_data."""
    folder = tmp_path / "tf_flowers" / "3.0.1"
    folder.mkdir(parents=True)
    info = tfds.builder("tf_flowers", data_dir=str(tmp_path / "empty")).info
    template = tfds.core.naming.ShardedFileTemplate(
        data_dir=str(folder),
        template="{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
        dataset_name="tf_flowers",
        filetype_suffix="tfrecord",
    )
    info.set_splits(
        tfds.core.SplitDict(
            [
                tfds.core.SplitInfo(
                    name="train",
                    shard_lengths=[3670],
                    num_bytes=0,
                    filename_template=template,
                )
            ]
        )
    )
    info.write_to_directory(str(folder))
    return str(tmp_path)


def test_full_profile_loads_tf_flowers_through_tfds(tf_flowers_metadata):
    with tfds.testing.mock_data(num_examples=6, data_dir=tf_flowers_metadata):
        splits = data.load_splits("full")
        assert splits.sizes == {
            "train": 1000,
            "validation": 500,
            "test": 1000,
            "pool": 1170,
        }
        assert splits.class_names == [
            "dandelion",
            "daisy",
            "tulips",
            "sunflowers",
            "roses",
        ]
        image, label = next(iter(splits.train))
        assert image.dtype == tf.uint8 and image.shape[-1] == 3
        batch, labels = next(iter(data.preprocess(splits.test, 299, batch_size=4)))
        assert batch.shape == (4, 299, 299, 3) and batch.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(batch)) <= float(tf.reduce_max(batch)) <= 1
        small = data.load_splits(
            "full", sizes={"train": 100, "validation": 50, "test": 100}
        )
        assert small.sizes["pool"] == 3420


def test_full_profile_without_network_fails_fast(tmp_path, no_network):
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="offline"):
        data.load_splits("full", data_dir=str(tmp_path))
    assert time.monotonic() - start < 15


def test_preprocess_bad_input():
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((2, 8, 8, 3), np.uint8), [0, 1]))
    with pytest.raises(TypeError):
        data.preprocess(np.zeros((2, 8, 8, 3)), 8)
    with pytest.raises(ValueError, match="image_size"):
        data.preprocess(ds, 0)
    with pytest.raises(ValueError, match="profile"):
        data.load_splits("gpu")


def test_images_at():
    x = np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(5)))
    np.testing.assert_array_equal(np.stack(data.images_at(ds, [3, 0])), x[[3, 0]])
    with pytest.raises(ValueError, match="beyond"):
        data.images_at(ds, [7])


def _mixed_sizes(n=5):
    rng = np.random.default_rng(0)
    shapes = [
        (int(rng.integers(240, 501)), int(rng.integers(240, 501))) for _ in range(n)
    ]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    ds = tf.data.Dataset.from_generator(
        lambda: ((x, np.int64(i)) for i, x in enumerate(images)),
        output_signature=(
            tf.TensorSpec([None, None, 3], tf.uint8),
            tf.TensorSpec([], tf.int64),
        ),
    )
    return images, ds


def test_images_of_real_sizes_are_never_stacked():
    import matplotlib

    matplotlib.use("Agg")
    from alwidgets import plots

    images, ds = _mixed_sizes()
    assert len({x.shape for x in images}) > 1
    got = data.images_at(ds, [3, 0, 4])
    assert [x.shape for x in got] == [images[i].shape for i in (3, 0, 4)]
    for a, i in zip(got, (3, 0, 4)):
        np.testing.assert_array_equal(a, images[i])
    plots.show_images(got, ["a", "b", "c"])  # the galleries take them as they are
    plots.plot_probabilities(got, np.full((3, 5), 0.2), list("abcde"))
    batch, _ = next(iter(data.preprocess(ds, 299, batch_size=5)))
    assert batch.shape == (5, 299, 299, 3)
    with pytest.raises(TypeError, match="integers"):
        data.images_at(ds, [0.5])
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        data.images_at(images, [0])


def test_tfds_auto_cache_is_off(tf_flowers_metadata, monkeypatch):
    """tf_flowers is under TFDS's 250 MiB auto-cache limit: +1.7 GB of RAM if on."""
    seen = {}
    real_load = tfds.load

    def load(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(tfds, "load", load)
    with tfds.testing.mock_data(num_examples=6, data_dir=tf_flowers_metadata):
        data.load_splits("full")
    assert seen["read_config"].try_autocache is False


def test_offline_error_hides_tfds_chained_assertion(tmp_path, no_network):
    with pytest.raises(ConnectionError) as caught:
        data.load_splits("full", data_dir=str(tmp_path))
    assert caught.value.__context__ is None and caught.value.__cause__ is None
