"""Reading your own images: folders, CSVs, lists, and every kind of bad file."""

import csv

import numpy as np
import pytest
from PIL import Image

from alwidgets import images_in
from alwidgets.images_in import BAD_KINDS, find_images, load_image


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images") / "mine"
    written = images_in.write_example_folder(root, n=12, n_bad=6, seed=3)
    return root, written


def test_every_bad_kind_is_listed_with_its_reason(folder):
    root, written = folder
    assert sorted(written["bad"].values()) == sorted(BAD_KINDS)
    found = find_images(root)
    assert len(found) == 18
    reasons = {}
    for path in found.paths:
        array, reason = load_image(path, 32)
        if reason is None:
            assert array.shape == (32, 32, 3) and array.dtype == np.uint8
        else:
            assert array is None
            reasons[path] = images_in.read_bad_kind(reason)
    assert reasons == written["bad"]


def test_class_sub_folders_become_known_labels(folder):
    root, _ = folder
    found = find_images(root)
    assert found.class_names == sorted(p.name for p in root.iterdir())
    assert found.has_labels
    for path, label in zip(found.paths, found.labels):
        assert f"/{found.class_names[label]}/" in path
    plain = find_images(root, class_folders=False)
    assert (
        plain.paths == found.paths
        and not plain.has_labels
        and (plain.labels == -1).all()
    )


def test_csv_and_list_sources(folder, tmp_path):
    root, _ = folder
    found = find_images(root)
    table = tmp_path / "list.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for p, y in zip(found.paths, found.labels):
            writer.writerow([p, found.class_names[y]])
    from_csv = find_images(table)
    assert from_csv.paths == found.paths
    assert from_csv.class_names == found.class_names
    assert (from_csv.labels == found.labels).all()
    reversed_list = find_images(list(reversed(found.paths)))
    assert reversed_list.paths == list(reversed(found.paths))  # the order given


def test_loose_files_and_bad_sources_are_refused(tmp_path):
    Image.new("RGB", (20, 20)).save(tmp_path / "loose.png")
    (tmp_path / "a").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / "a" / "x.png")
    assert find_images(tmp_path).class_names == []  # not every image in a class folder
    with pytest.raises(ValueError, match="not in a class sub-folder"):
        find_images(tmp_path, class_folders=True)
    with pytest.raises(ValueError, match="does not exist"):
        find_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="empty list"):
        find_images([])
    with pytest.raises(TypeError, match="folder, a .csv file or a list"):
        find_images(3)
    with pytest.raises(ValueError, match="no image files"):
        find_images(_empty(tmp_path))
    with pytest.raises(ValueError, match="size must be a positive integer"):
        load_image(tmp_path / "loose.png", 0)


def _empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    return empty


def test_alpha_palette_grey_and_orientation(tmp_path):
    # A transparent pixel becomes white, grey and palette images become RGB.
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:8, :, 3] = 255  # top half opaque red, bottom half transparent
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    array, reason = load_image(tmp_path / "alpha.png", 16)
    assert reason is None
    assert tuple(array[2, 2]) == (255, 0, 0) and tuple(array[13, 2]) == (255, 255, 255)
    Image.new("L", (16, 16), 77).save(tmp_path / "grey.png")
    assert tuple(load_image(tmp_path / "grey.png", 8)[0][0, 0]) == (77, 77, 77)
    Image.new("RGB", (16, 16), (10, 200, 30)).convert("P").save(tmp_path / "pal.gif")
    assert load_image(tmp_path / "pal.gif", 8)[1] is None
    # EXIF orientation 6 (rotate 90° clockwise to show): the left column (red)
    # ends up on top.
    stripes = np.zeros((16, 32, 3), np.uint8)
    stripes[:, :8] = (255, 0, 0)
    image = Image.fromarray(stripes)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    array, _ = load_image(tmp_path / "turned.jpg", 32)
    assert array[1, 16, 0] > 200 and array[30, 16, 0] < 60


def test_bytes_and_limits(tmp_path):
    Image.new("RGB", (40, 30), (1, 2, 3)).save(tmp_path / "x.png")
    data = (tmp_path / "x.png").read_bytes()
    assert load_image(data, 8)[1] is None
    kind = images_in.read_bad_kind(load_image(data, 8, max_pixels=1000)[1])
    assert kind == "too large"
    assert images_in.read_bad_kind(load_image(data, 8, min_side=31)[1]) == "too small"
    with pytest.raises(TypeError, match="file must be a path, bytes"):
        load_image(5, 8)
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        load_image(data, 8, max_pixels=0)
    with pytest.raises(ValueError, match="starts with none"):
        images_in.read_bad_kind("fine")
