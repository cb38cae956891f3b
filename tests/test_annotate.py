import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alwidgets import ImageAnnotator, data
from alwidgets.annotate import encode_image, labelled_dataset, read_labels

CLASSES = ["daisy", "roses", "tulips"]


@pytest.fixture
def images():
    x, _, _ = data.make_offline_flowers(6, seed=1)
    return x


def make(images, path, **kwargs):
    kwargs.setdefault("debounce_s", 0)
    return ImageAnnotator(images, CLASSES, path, **kwargs)


def events(path):
    lines = path.read_text().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def key(annotator, k):
    """What the front end sends when a key is pressed."""
    annotator._keys._handle_custom_msg({"event": "keydown", "key": k}, [])


def test_buttons_keys_and_file(images, tmp_path):
    path = tmp_path / "labels.jsonl"
    a = make(images, path)
    header, evs = events(path)
    assert header["classes"] == CLASSES and evs == []
    a._class_buttons[1].click()  # roses
    assert a.labels == {0: "roses"} and a.current == 1
    assert events(path)[1][-1]["label"] == "roses"
    key(a, "3")  # tulips, by keyboard
    assert a.labels == {0: "roses", 1: "tulips"} and a.current == 2
    key(a, "s")  # skip item 2
    assert a.current == 3 and 2 not in a.labels
    key(a, "u")  # undo the skip: back to item 2
    assert a.current == 2
    key(a, "1")
    assert a.labels[2] == "daisy"
    key(a, "Backspace")  # undo that label
    assert 2 not in a.labels and a.current == 2
    key(a, "ArrowLeft")
    assert a.current == 1
    key(a, "1")  # change an earlier decision
    assert a.labels[1] == "daisy"
    key(a, "x")  # unknown keys do nothing
    _, labels, _ = read_labels(path, CLASSES)
    assert labels == a.labels == {0: "roses", 1: "daisy"}


def test_double_click_is_not_a_silent_skip(images, tmp_path):
    a = ImageAnnotator(images, CLASSES, tmp_path / "l.jsonl", debounce_s=10)
    a._class_buttons[0].click()
    a._class_buttons[0].click()  # the second click of a double click
    assert a.labels == {0: "daisy"} and a.current == 1
    assert "double click" in a._feedback.value


def test_budget_and_done_state_with_oracle(images, tmp_path):
    truth = np.array([0, 1, 2, 0, 1, 2])
    a = make(images, tmp_path / "l.jsonl", budget=3, true_labels=truth)
    for k in ("1", "2", "1"):  # the third is wrong
        key(a, k)
    assert a.done and a.n_labelled == 3
    assert a.accuracy() == pytest.approx(2 / 3)
    assert "67%" in a._feedback.value and "Done" in a._feedback.value
    before = a.labels
    a.next()
    a.label("roses")  # over budget: refused, nothing written
    assert a.labels == before
    assert len(events(tmp_path / "l.jsonl")[1]) == 3
    assert all(b.disabled for b in a._class_buttons)
    a.undo()
    assert not a.done and a.n_labelled == 2


def test_resume_after_recreation(images, tmp_path):
    path = tmp_path / "l.jsonl"
    a = make(images, path, items=[10, 11, 12, 13, 14, 15])
    for k in ("1", "2", "s"):
        key(a, k)
    b = make(images, path, items=[10, 11, 12, 13, 14, 15])
    assert b.labels == {10: "daisy", 11: "roses"}
    assert b.current == 3  # past the labels and the skipped image
    assert b.export()["labels"] == [0, 1, -1, -1, -1, -1]


def test_resume_after_kill_minus_9(images, tmp_path):
    """A kernel killed right after a label keeps that label."""
    path = tmp_path / "l.jsonl"
    np.save(tmp_path / "x.npy", images)
    script = textwrap.dedent(
        f"""
        import os, signal, numpy as np
        from alwidgets import ImageAnnotator
        a = ImageAnnotator(np.load({str(tmp_path / "x.npy")!r}), {CLASSES!r},
                           {str(path)!r}, debounce_s=0)
        a.press("2"); a.press("3")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    resumed = make(images, path)
    assert resumed.labels == {0: "roses", 1: "tulips"}


def test_truncated_last_line_is_ignored_with_a_warning(images, tmp_path):
    path = tmp_path / "l.jsonl"
    a = make(images, path)
    a.press("1")
    with open(path, "a") as f:
        f.write('{"item": 1, "lab')  # a crash in the middle of a write
    with pytest.warns(UserWarning, match="cut short"):
        b = make(images, path)
    assert b.labels == {0: "daisy"}


@pytest.mark.parametrize(
    "content, words",
    [
        ("name,label\na.jpg,roses\n", "not an alwidgets label file"),
        (
            '{"format": "alwidgets-labels", "version": 1, "classes": ["a", "b"]}\n',
            "classes",
        ),
        (
            '{"format": "alwidgets-labels", "version": 1, "classes": '
            + json.dumps(CLASSES)
            + '}\n{"item": 99, "label": "roses"}\n',
            "not in this queue",
        ),
        (
            '{"format": "alwidgets-labels", "version": 1, "classes": '
            + json.dumps(CLASSES)
            + '}\n{"item": 0, "label": "cactus"}\n',
            "unknown class",
        ),
        (
            '{"format": "alwidgets-labels", "version": 1, "classes": '
            + json.dumps(CLASSES)
            + '}\ngarbage\n{"item": 0, "label": "roses"}\n',
            "line 2",
        ),
    ],
)
def test_bad_label_files_are_errors_and_left_untouched(
    images, tmp_path, content, words
):
    path = tmp_path / "l.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=words):
        make(images, path)
    assert path.read_text() == content


def test_bad_input(images, tmp_path):
    p = tmp_path / "l.jsonl"
    with pytest.raises(ValueError, match="unknown class"):
        make(images, p).label("cactus")
    a = make(images, p)
    with pytest.raises(ValueError, match="class index"):
        a.label(7)
    assert a.labels == {}
    with pytest.raises(ValueError, match="2 to 9 classes"):
        ImageAnnotator(images, ["a"], tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="unique"):
        ImageAnnotator(images, ["a", "a"], tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="empty"):
        make(images[:0], tmp_path / "y.jsonl")
    with pytest.raises(ValueError, match="probs must have shape"):
        make(images, tmp_path / "y.jsonl", probs=np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="budget"):
        make(images, tmp_path / "y.jsonl", budget=0)
    with pytest.raises(ValueError, match="items"):
        make(images, tmp_path / "y.jsonl", items=[1, 1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        make(images.astype(float), tmp_path / "y.jsonl")
    with pytest.raises(TypeError):
        make(42, tmp_path / "y.jsonl")
    assert not (tmp_path / "y.jsonl").exists()


def test_all_input_kinds(images, tmp_path):
    paths = []
    for i, image in enumerate(images[:2]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    ds = tf.data.Dataset.from_tensor_slices((images[:2], [0, 1]))
    kinds = {
        "uint8": images[:2],
        "float": images[:2] / 255.0,
        "tensor": tf.constant(images[:2]),
        "pil": [Image.fromarray(x) for x in images[:2]],
        "paths": [str(p) for p in paths],
        "dataset": ds,
        "dataset_images": ds.map(lambda x, y: x),
    }
    for name, source in kinds.items():
        a = make(source, tmp_path / f"{name}.jsonl")
        assert len(a._encoded) == 2, name
        decoded = Image.open(__import__("io").BytesIO(a._image.value))
        assert max(decoded.size) == 320, name


def test_model_panel_and_export(images, tmp_path):
    probs = np.array([[0.5, 0.3, 0.2]] * 6)
    a = make(images, tmp_path / "l.jsonl", probs=probs)
    assert "least confidence 0.500" in a._model_view.value
    assert "rank 1 of 6" in a._model_view.value
    a.press("2")
    out = a.export()
    assert out["counts"] == {"daisy": 0, "roses": 1, "tulips": 0}
    ds = labelled_dataset(images, a.labels, CLASSES)
    ((x, y),) = list(ds.as_numpy_iterator())
    np.testing.assert_array_equal(x, images[0])
    assert y == 1


def test_encode_image_sizes():
    small = encode_image(np.zeros((10, 20, 3), np.uint8))
    assert max(Image.open(__import__("io").BytesIO(small)).size) == 320
    with pytest.raises(ValueError):
        encode_image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="cannot read"):
        encode_image("/no/such/file.png")


def test_label_to_next_is_fast(images, tmp_path):
    """A loose guard only; the measured latency is in tools/benchmark_annotator.py."""
    x, _, _ = data.make_offline_flowers(40, seed=2)
    a = make(x, tmp_path / "l.jsonl")
    start = time.perf_counter()
    for _ in range(20):
        a.press("1")
    assert (time.perf_counter() - start) / 20 < 0.5
    assert os.path.getsize(tmp_path / "l.jsonl") > 0
