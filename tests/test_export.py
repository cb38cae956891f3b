"""Leave with your data: CSV, class folders Keras reads, one .keras model."""

import csv

import keras
import numpy as np
import pytest
from PIL import Image

from alwidgets import embed, export, heads, images_in


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    root = tmp_path_factory.mktemp("images") / "mine"
    images_in.write_example_folder(root, n=25, n_bad=2, seed=7)
    return embed.embed(
        root, tmp_path_factory.mktemp("f") / "f", "tiny_offline", progress=False
    )


def test_csv_and_class_folders_keras_reads(embedded, tmp_path):
    f = embedded
    table = export.labels_to_csv(
        f.paths, f.labels, f.class_names, tmp_path / "labels.csv"
    )
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["path"] for r in rows] == f.paths
    assert [r["label"] for r in rows] == [f.class_names[y] for y in f.labels]
    counts = export.labels_to_folders(
        f.paths, f.labels, f.class_names, tmp_path / "tree"
    )
    assert sum(counts.values()) == len(f)
    ds = keras.utils.image_dataset_from_directory(
        tmp_path / "tree", image_size=(32, 32), batch_size=64, shuffle=False
    )
    assert ds.class_names == f.class_names
    labels = np.concatenate([y.numpy() for _, y in ds])
    assert np.bincount(labels, minlength=5).tolist() == [
        counts[c] for c in f.class_names
    ]
    with pytest.raises(ValueError, match="not empty"):
        export.labels_to_folders(f.paths, f.labels, f.class_names, tmp_path / "tree")


def test_same_file_name_twice_is_kept_twice(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        Image.new("RGB", (10, 10)).save(tmp_path / sub / "x.png")
    paths = [tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"]
    export.labels_to_folders(paths, [1, 1], ["cat", "dog"], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out" / "dog").iterdir()) == [
        "x-1.png",
        "x.png",
    ]
    assert list((tmp_path / "out" / "cat").iterdir()) == []
    with pytest.raises(ValueError, match="labels must be class indices"):
        export.labels_to_csv(paths, [0, 2], ["cat", "dog"], tmp_path / "l.csv")
    with pytest.raises(ValueError, match="cannot be a folder name"):
        export.labels_to_folders(paths, [0, 1], ["cat", "a/b"], tmp_path / "o2")


def test_one_keras_file_predicts_like_backbone_and_head(embedded, tmp_path):
    f = embedded
    head = heads.HeadTrainer(l2=1e-2, calibrate=False).fit(f.features, f.labels, 5)
    path = tmp_path / "model.keras"
    export.export_model("tiny_offline", head, path, f.class_names)
    reloaded = keras.models.load_model(path)
    probs, bad = export.predict_images(reloaded, f.paths[:8] + [f.bad[0].path])
    assert [p for p, _ in bad] == [f.bad[0].path]
    np.testing.assert_allclose(probs, head.predict_proba(f.features[:8]), atol=1e-5)
    assert path.with_suffix(".classes.txt").read_text().split() == f.class_names
    with pytest.raises(ValueError, match="must end in .keras"):
        export.export_model("tiny_offline", head, tmp_path / "m.h5")
    with pytest.raises(
        ValueError, match="the head takes 480 features, the backbone gives"
    ):
        export.export_model(
            keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten()]),
            head,
            path,
        )
