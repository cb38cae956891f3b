import html
import io
import json
import os
import random
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alwidgets import ImageAnnotator
from alwidgets.annotate import STATIC
from alwidgets.images import encode_image, labelled_dataset
from alwidgets.labels import read_labels, read_state
from alwidgets.offline_images import make_offline_flowers

CLASSES = ["daisy", "roses", "tulips"]


@pytest.fixture
def images():
    x, _, _ = make_offline_flowers(6, seed=1)
    return x


def make(images, path, **kwargs):
    kwargs.setdefault("debounce_s", 0)
    return ImageAnnotator(images, CLASSES, path, **kwargs)


def events(path):
    lines = path.read_text().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


@pytest.fixture
def key(front_end):
    """``key(annotator, k)``: what the front end sends when ``k`` is pressed."""
    return lambda annotator, k: front_end(annotator, {"event": "keydown", "key": k})


def test_keys_and_file(images, tmp_path, key):
    path = tmp_path / "labels.jsonl"
    a = make(images, path)
    header, evs = events(path)
    assert header["classes"] == CLASSES and evs == []
    a.press("2")  # roses
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


def test_budget_and_done_state_with_oracle(images, tmp_path, key):
    truth = np.array([0, 1, 2, 0, 1, 2])
    a = make(images, tmp_path / "l.jsonl", budget=3, true_labels=truth)
    for k in ("1", "2", "1"):  # the third is wrong
        key(a, k)
    # the feedback under the next image says which image it is about
    assert "Image 3 (item 2)" in a.feedback or "Done" in a.feedback
    assert a.done and a.n_labelled == 3
    assert a.accuracy() == pytest.approx(2 / 3)
    assert "67%" in a.feedback and "Done" in a.feedback
    before = a.labels
    a.next()
    a.label("roses")  # over budget: refused, nothing written
    assert a.labels == before
    assert len(events(tmp_path / "l.jsonl")[1]) == 3
    assert "budget" in a.feedback and a.view["labelled"] == a.view["budget"]
    a.undo()
    assert not a.done and a.n_labelled == 2
    key(a, "2")
    assert "Image 3 (item 2): ✗ you said roses; the dataset says tulips" in (a.feedback)


def test_resume_after_recreation(images, tmp_path, key):
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
        assert len(a.items) == 2, name
        decoded = Image.open(io.BytesIO(a.image(a.items[a.current])))
        assert max(decoded.size) == 320, name


def test_model_panel_and_export(images, tmp_path):
    probs = np.array([[0.5, 0.3, 0.2]] * 6)
    a = make(images, tmp_path / "l.jsonl", probs=probs)
    shown = a.panel(a.items[a.current])
    assert "least confidence 0.500" in shown
    # the smallest-margin criterion's score is 1 - margin: say which is which
    assert "margin score 0.800" in shown and "margin p₁ − p₂ = 0.200" in shown
    assert "rank 1 of 6" in shown
    a.press("2")
    out = a.export()
    assert out["counts"] == {"daisy": 0, "roses": 1, "tulips": 0}
    ds = labelled_dataset(images, a.labels, CLASSES)
    ((x, y),) = list(ds.as_numpy_iterator())
    np.testing.assert_array_equal(x, images[0])
    assert y == 1


def test_encode_image_sizes():
    small = encode_image(np.zeros((10, 20, 3), np.uint8))
    assert max(Image.open(io.BytesIO(small)).size) == 320
    with pytest.raises(ValueError):
        encode_image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="cannot read"):
        encode_image("/no/such/file.png")


def test_label_to_next_is_fast(images, tmp_path):
    """A loose guard only; the measured latency is in tools/benchmark_annotator.py."""
    x, _, _ = make_offline_flowers(40, seed=2)
    a = make(x, tmp_path / "l.jsonl")
    start = time.perf_counter()
    for _ in range(20):
        a.press("1")
    assert (time.perf_counter() - start) / 20 < 0.5
    assert os.path.getsize(tmp_path / "l.jsonl") > 0


# -- defects found under real hands (issue 10) ---------------------------------------


def test_undo_of_a_skip_is_saved(images, tmp_path, key):
    """Defect 3: s then u left item 0 skipped in the file; a restart opened image 2."""
    path = tmp_path / "l.jsonl"
    a = make(images, path)
    key(a, "s")
    key(a, "u")
    assert a.skipped == set() and a.current == 0
    assert read_labels(path, CLASSES)[2] == set()
    b = make(images, path)
    assert b.skipped == set() and b.current == 0


def test_undo_of_a_label_on_a_skipped_image_skips_it_again(images, tmp_path, key):
    """Defect 3, the other way: the live state and the file diverged."""
    path = tmp_path / "l.jsonl"
    a = make(images, path)
    key(a, "s")  # skip image 1 (item 0)
    key(a, "b")
    key(a, "2")  # label it after all
    assert a.skipped == set() and a.labels == {0: "roses"}
    key(a, "u")
    assert a.skipped == {0} and a.labels == {}
    assert read_state(path, CLASSES) == a.state
    assert make(images, path).skipped == {0}


class _Reference:
    """An independent model of what the keys mean, to check the reducer against."""

    def __init__(self, n, budget):
        self.label, self.skip, self.stack, self.budget = {}, set(), [], budget

    def decide(self, item, label=None):
        self.stack.append((item, self.label.get(item), item in self.skip))
        if label is None:
            self.skip.add(item)
        else:
            self.label[item] = label
            self.skip.discard(item)

    def undo(self):
        if self.stack:
            item, label, skip = self.stack.pop()
            if label is None:
                self.label.pop(item, None)
            else:
                self.label[item] = label
            (self.skip.add if skip else self.skip.discard)(item)


@pytest.mark.parametrize("seed", range(40))
def test_random_key_sequences_replay_to_the_live_state(images, tmp_path, seed, key):
    """The property behind defect 3: one reducer for the live session and replay."""
    rng = random.Random(seed)
    path = tmp_path / "l.jsonl"
    budget = rng.choice([3, 6])
    a = make(images, path, budget=budget)
    ref = _Reference(len(images), budget)
    keys = ["1", "2", "3", "s", "u", "Backspace", "b", "n", "ArrowLeft", "x"]
    decided_last = False
    for _ in range(rng.randint(1, 40)):
        k = rng.choice(keys)
        item = a.items[a.current]
        if k in "123" and not (item not in ref.label and len(ref.label) >= budget):
            ref.decide(item, CLASSES[int(k) - 1])
        elif k == "s" and item not in ref.label:
            ref.decide(item)
        elif k in ("u", "Backspace"):
            ref.undo()
        before = a.state
        key(a, k)
        decided_last = a.state != before
        assert a.labels == ref.label and a.skipped == ref.skip - set(ref.label)
    assert read_state(path, CLASSES) == a.state  # replay == live, history included
    b = make(images, path, budget=budget)
    assert b.state == a.state and b.labels == a.labels and b.skipped == a.skipped
    if decided_last:  # a restart opens the image the live session showed
        assert b.current == a.current


def test_resume_opens_where_the_learner_stopped(images, tmp_path, key):
    """Defect 10: resume opened the first unlabelled image, not where one stopped."""
    path = tmp_path / "l.jsonl"
    a = make(images, path)
    for k in ("n", "n", "n", "1", "2"):  # label images 4 and 5
        key(a, k)
    assert a.current == 5
    assert make(images, path).current == 5  # not image 1
    a2 = make(images, path)
    key(a2, "u")  # after an undo: back on the undone image
    assert make(images, path).current == 4


def test_two_live_annotators_on_one_file(images, tmp_path, key):
    """Defect 5: a newer annotator takes over; the older one says so and stops."""
    path = tmp_path / "l.jsonl"
    old = make(images, path)
    key(old, "1")
    new = make(images, path)  # the cell re-run while the old view is still live
    assert not old.active and new.active
    assert "took over" in old.feedback
    assert old.view["active"] is False  # the front end takes no keys
    key(old, "2")
    key(old, "u")  # the old one can no longer erase the newer one's labels
    key(new, "3")
    assert read_labels(path, CLASSES)[1] == new.labels == {0: "daisy", 1: "tulips"}


def test_another_kernel_takes_over(images, tmp_path, key):
    path = tmp_path / "l.jsonl"
    np.save(tmp_path / "x.npy", images)
    old = make(images, path)
    key(old, "1")
    script = textwrap.dedent(
        f"""
        import numpy as np
        from alwidgets import ImageAnnotator
        a = ImageAnnotator(np.load({str(tmp_path / "x.npy")!r}), {CLASSES!r},
                           {str(path)!r}, debounce_s=0)
        a.press("2")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    key(old, "3")  # refused: the other kernel is the live writer now
    assert not old.active and "took over" in old.feedback
    assert read_labels(path, CLASSES)[1] == {0: "daisy", 1: "roses"}


def test_a_write_error_is_shown_and_not_counted(images, tmp_path, key):
    """Defect 6: with the file unwritable a key did nothing and showed nothing."""
    path = tmp_path / "l.jsonl"
    a = make(images, path)
    key(a, "1")
    path.unlink()
    path.mkdir()  # unwritable, even for root
    key(a, "2")
    assert a.labels == {0: "daisy"} and a.current == 1 and a.n_labelled == 1
    assert "Could not save" in a.feedback and "NOT counted" in a.feedback
    assert a.view["kind"] == "error" and a.last_error
    path.rmdir()  # fixed: the next key works, and the file is whole again
    key(a, "2")
    assert a.labels == {0: "daisy", 1: "roses"} and a.last_error is None
    assert read_labels(path, CLASSES)[1] == a.labels


def test_label_file_deleted_while_live_is_recreated(images, tmp_path, key):
    """Defect 9: the next label wrote a header-less file that was then refused."""
    path = tmp_path / "l.jsonl"
    a = make(images, path)
    key(a, "1")
    key(a, "s")
    path.unlink()
    key(a, "3")
    assert "re-created" in a.feedback
    assert read_state(path, CLASSES) == a.state
    b = make(images, path)
    assert b.labels == {0: "daisy", 2: "tulips"} and b.skipped == {1}


def test_label_after_a_cut_off_last_line_is_kept(images, tmp_path, key):
    """Defect 2: the next label was glued onto the partial line and lost."""
    path = tmp_path / "l.jsonl"
    a = make(images, path)
    key(a, "1")
    with open(path, "a") as f:
        f.write('{"item": 1, "lab')
    with pytest.warns(UserWarning, match="cut short"):
        b = make(images, path)
    assert "cut short" in b.feedback
    key(b, "2")
    assert read_labels(path, CLASSES)[1] == {0: "daisy", 1: "roses"}
    assert make(images, path).labels == {0: "daisy", 1: "roses"}
    (copy,) = tmp_path.glob("l.jsonl.cut-*")
    assert copy.read_text() == '{"item": 1, "lab'


def test_the_front_end_protocol(images, tmp_path, front_end, sent):
    """Keys name their image and are acknowledged; images come once, on request."""
    a = make(images, tmp_path / "l.jsonl")
    out = sent(a)
    front_end(a, {"event": "keydown", "key": "2", "item": 0, "seq": 6})
    assert a.labels == {0: "roses"} and a.view["current"] == 1 and out
    # a key labels the image it was pressed on, even one the kernel no longer
    # shows (after a re-rank); the kernel then stays where it was
    front_end(a, {"event": "keydown", "key": "1", "item": 3, "seq": 7})
    assert a.labels == {0: "roses", 3: "daisy"} and a.view["acked"] == 7
    assert a.view["current"] == 1
    # images travel with the view once: the current one, and those new to the window
    assert [(i, bytes(b)) for i, b in a.view["images"]] == [(1, a.image(1))]
    front_end(a, {"event": "need", "items": [0, 4, 99]})
    data, buffers = out[-1]
    assert data == {"method": "custom", "content": {"images": [0, 4]}}
    assert [bytes(b) for b in buffers] == [a.image(0), a.image(4)]
    entries = a.view["entries"]
    assert [e["item"] for e in entries] == [0, 1, 2, 3, 4, 5]  # around the current
    assert entries[3]["label"] == "daisy" and "your label" in entries[3]["panel"]


def test_the_public_api_for_code_built_on_the_annotator(images, tmp_path):
    a = make(images, tmp_path / "l.jsonl")
    seen, retrained = [], []
    a.on_decision(lambda event, state: seen.append((event, len(state.labels))))
    a.add_key("r", "retrain", lambda: retrained.append(a.current))
    a.press("2")
    a.press("s")
    a.press("u")
    assert [(e.get("label"), e.get("skip"), n) for e, n in seen] == [
        ("roses", None, 1),
        (None, True, 1),
        (None, False, 1),
    ]
    a.press("R")
    assert retrained == [1] and "r retrain" in a.setup["help"]
    a.set_queue([5, 4, 3, 2, 1, 0])
    assert a.items == [5, 4, 3, 2, 1, 0] and a.items[a.current] == 5
    a.set_queue([5, 4, 3, 2, 1, 0], current=2)
    assert a.items[a.current] == 2
    a.set_panel(lambda item: f"<b>panel of {item}</b>")
    assert a.panel(2) == "<b>panel of 2</b>" == a.view["entries"][3]["panel"]
    a.set_busy(True, "thinking")
    assert a.view["busy"] and a.view["status"] == "thinking"
    a.message("careful", "warn")
    assert a.feedback == "careful" and a.view["kind"] == "warn"
    with pytest.raises(ValueError, match="same items"):
        a.set_queue([0, 1])
    with pytest.raises(ValueError, match="taken"):
        a.add_key("s", "again", print)
    with pytest.raises(TypeError):
        a.on_decision("not callable")
    with pytest.raises(ValueError, match="kind"):
        a.message("x", "loud")
    with pytest.raises(ValueError, match="not in this queue"):
        a.image(42)


def test_front_end_takes_only_its_own_keys_while_visible():
    """Defects 4, 7, 8 live in annotator.js (tested for real in test_browser.py);
    here: the one key map reaches it, and no blanket shortcut suppression."""
    js = (STATIC / "annotator.js").read_text()
    assert "data-lm-suppress-shortcuts" not in js  # it blocked Ctrl+S, Shift+Enter
    assert "IntersectionObserver" in js and "actions" in js and "acked" in js
    assert "kernel has stopped" in js
    css = (STATIC / "annotator.css").read_text()
    assert "inset" in css  # the focus cue is not clipped by the output area


def test_one_key_map_for_help_buttons_and_front_end(images, tmp_path, key):
    a = make(images, tmp_path / "l.jsonl")
    help_line = a.setup["help"]
    for action, keys in ImageAnnotator.KEYMAP.items():
        assert a.setup["actions"][action] == list(keys)  # what the front end takes
        assert action in help_line
    assert "u / Backspace undo" in help_line and "b / ← back" in help_line
    key(a, "S")  # caps lock: the same key
    assert a.skipped == {0}


def test_class_names_and_paths_are_escaped(images, tmp_path):
    """Defect 10: class names and paths went into HTML unescaped."""
    classes = ["<b>bold</b>", "a&b", "c"]
    path = tmp_path / "<i>x</i>.jsonl"
    a = ImageAnnotator(
        images, classes, path, probs=np.full((6, 3), 1 / 3), budget=1, debounce_s=0
    )
    a.press("1")
    shown = a.panel(a.items[0])  # HTML; the other lines are shown as plain text
    assert "<b>bold</b>" not in shown and html.escape("<b>bold</b>") in shown
    assert "a&amp;b" in shown and "<i>x</i>.jsonl" in a.feedback  # text, not HTML


def test_images_of_different_sizes(tmp_path, key):
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        for h, w in [(240, 320), (500, 375), (300, 300)]
    ]
    a = make(images, tmp_path / "l.jsonl")
    for item in a.items:
        assert max(Image.open(io.BytesIO(a.image(item))).size) == 320
    key(a, "2")
    ds = labelled_dataset(images, a.labels, CLASSES)
    ((x, y),) = list(ds.as_numpy_iterator())
    np.testing.assert_array_equal(x, images[0])
    assert y == 1
