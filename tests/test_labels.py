"""The label store (alwidgets.labels): reducer, replay, repair, one live writer."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from alwidgets import labels as L

CLASSES = ("daisy", "roses", "tulips")


def test_reducer_label_skip_undo():
    s0 = L.empty_state(CLASSES)
    s1 = L.apply(s0, {"item": 4, "skip": True})
    assert s1.skipped == {4} and dict(s1.labels) == {} and s1.last == (4, "skip")
    s2 = L.apply(s1, {"item": 4, "label": "roses"})
    assert dict(s2.labels) == {4: "roses"} and s2.skipped == frozenset()
    undo = L.undo_event(s2)
    assert undo == {"item": 4, "undo": True, "label": None, "skip": True}
    s3 = L.apply(s2, undo)
    assert s3.skipped == {4} and dict(s3.labels) == {} and s3.last == (4, "undo")
    s4 = L.apply(s3, L.undo_event(s3))  # undo the skip too
    assert s4.skipped == frozenset() and s4.history == () and L.undo_event(s4) is None
    assert s0 == L.empty_state(CLASSES)  # apply never changes its input
    assert dict(s1.labels) == {} and s1.skipped == {4}


def test_version_1_files_still_read(tmp_path):
    path = tmp_path / "old.jsonl"
    lines = [
        {"format": "alwidgets-labels", "version": 1, "classes": list(CLASSES)},
        {"item": 0, "label": "roses"},
        {"item": 0, "label": None},  # version 1's undo
        {"item": 1, "skip": True},
        {"item": 2, "label": "daisy"},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    classes, labels, skipped = L.read_labels(path)
    assert classes == list(CLASSES) and labels == {2: "daisy"} and skipped == {1}


@pytest.mark.parametrize(
    "event, error",
    [
        ("x", TypeError),
        ({"label": "roses"}, ValueError),
        ({"item": "1", "label": "roses"}, ValueError),
        ({"item": True, "label": "roses"}, ValueError),
        ({"item": 1, "label": "cactus"}, ValueError),
        ({"item": 1}, ValueError),
        ({"item": 1, "skip": "yes"}, ValueError),
        ({"item": 1, "skip": False}, ValueError),
        ({"item": 1, "undo": True, "label": None}, ValueError),
    ],
)
def test_bad_events_are_refused(event, error):
    with pytest.raises(error):
        L.apply(L.empty_state(CLASSES), event)


def test_bad_input():
    with pytest.raises(TypeError):
        L.apply({}, {"item": 1, "label": "roses"})
    with pytest.raises(TypeError):
        L.empty_state("abc")
    with pytest.raises(ValueError, match="2 to 9"):
        L.empty_state(["a"])
    with pytest.raises(ValueError, match="unique"):
        L.empty_state(["a", "a"])
    with pytest.raises(TypeError):
        L.LabelStore(42, CLASSES)
    with pytest.raises(ValueError, match="empty"):
        L.next_open(L.empty_state(CLASSES), [])


def test_partial_tail_is_cut_to_a_copy_and_the_next_event_is_kept(tmp_path):
    """Defect 2: the next label was appended onto the partial line and lost."""
    path = tmp_path / "l.jsonl"
    s = L.LabelStore(path, CLASSES)
    s.record({"item": 0, "label": "daisy"})
    with open(path, "ab") as f:
        f.write(b'{"item": 1, "lab')  # a crash in the middle of a write
    with pytest.warns(UserWarning, match="cut short"):
        s2 = L.LabelStore(path, CLASSES)
    (copy,) = tmp_path.glob("l.jsonl.cut-*")
    assert copy.read_bytes() == b'{"item": 1, "lab'  # nothing silently dropped
    s2.record({"item": 1, "label": "tulips"})
    _, labels, _ = L.read_labels(path, CLASSES)
    assert labels == {0: "daisy", 1: "tulips"}


def test_a_whole_last_event_without_newline_is_kept(tmp_path):
    path = tmp_path / "l.jsonl"
    L.LabelStore(path, CLASSES).record({"item": 0, "label": "daisy"})
    with open(path, "ab") as f:
        f.write(b'{"item": 1, "label": "roses"}')
    s = L.LabelStore(path, CLASSES)
    s.record({"item": 2, "label": "tulips"})
    assert L.read_labels(path)[1] == {0: "daisy", 1: "roses", 2: "tulips"}


def test_read_labels_does_not_modify_a_file_with_a_cut_tail(tmp_path):
    path = tmp_path / "l.jsonl"
    L.LabelStore(path, CLASSES).record({"item": 0, "label": "daisy"})
    with open(path, "ab") as f:
        f.write(b'{"it')
    before = path.read_bytes()
    with pytest.warns(UserWarning, match="cut short"):
        assert L.read_labels(path)[1] == {0: "daisy"}
    assert path.read_bytes() == before


def test_deleted_file_is_recreated_whole(tmp_path):
    """Defect 9: a label after deletion wrote a header-less file."""
    path = tmp_path / "l.jsonl"
    s = L.LabelStore(path, CLASSES)
    s.record({"item": 0, "label": "daisy"})
    s.record({"item": 1, "skip": True})
    first = path.read_text().splitlines()[1]
    path.unlink()
    s.record({"item": 2, "label": "roses"})
    assert L.read_state(path, CLASSES) == s.state
    assert path.read_text().splitlines()[1] == first  # times kept
    assert "re-created" in s.messages[-1]


def test_a_failed_write_changes_nothing(tmp_path):
    """Defect 6 (store side): the state moves only once the event is on disk."""
    path = tmp_path / "l.jsonl"
    s = L.LabelStore(path, CLASSES)
    s.record({"item": 0, "label": "daisy"})
    before = s.state
    path.unlink()
    path.mkdir()  # unwritable, even for root
    with pytest.raises(OSError):
        s.record({"item": 1, "label": "roses"})
    assert s.state == before
    path.rmdir()
    s.record({"item": 1, "label": "roses"})
    assert L.read_labels(path)[1] == {0: "daisy", 1: "roses"}


def test_a_part_line_left_by_a_failed_write_is_repaired(tmp_path):
    path = tmp_path / "l.jsonl"
    s = L.LabelStore(path, CLASSES)
    s.record({"item": 0, "label": "daisy"})
    with open(path, "ab") as f:
        f.write(b'{"item": 1, "la')  # e.g. a disk that filled up mid-line
    s.record({"item": 1, "label": "roses"})
    assert L.read_labels(path)[1] == {0: "daisy", 1: "roses"}
    assert len(list(tmp_path.glob("l.jsonl.cut-*"))) == 1


def test_newer_store_takes_over_in_this_process(tmp_path):
    """Defect 5: one live writer per file."""
    path = tmp_path / "l.jsonl"
    old = L.LabelStore(path, CLASSES)
    calls = []
    old.on_taken_over(lambda: calls.append(1))
    new = L.LabelStore(path, CLASSES)
    assert calls == [1] and not old.live and new.live
    with pytest.raises(L.TakenOver):
        old.record({"item": 0, "label": "daisy"})
    new.record({"item": 0, "label": "roses"})
    assert L.read_labels(path)[1] == {0: "roses"}


def test_newer_store_in_another_process_takes_over(tmp_path):
    path = tmp_path / "l.jsonl"
    old = L.LabelStore(path, CLASSES)
    old.record({"item": 0, "label": "daisy"})
    script = textwrap.dedent(
        f"""
        from alwidgets.labels import LabelStore
        LabelStore({str(path)!r}, {list(CLASSES)!r}).record({{"item": 1, "label": "roses"}})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    with pytest.raises(L.TakenOver):
        old.record({"item": 2, "label": "tulips"})
    assert L.read_labels(path)[1] == {0: "daisy", 1: "roses"}


def test_labelled_dataset_with_images_of_different_sizes():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        for h, w in [(240, 320), (500, 375), (300, 300)]
    ]
    ds = L.labelled_dataset(images, {10: "roses", 12: "daisy"}, CLASSES, [10, 11, 12])
    assert ds.element_spec[0].shape.as_list() == [None, None, 3]
    assert int(ds.cardinality()) == 2
    (x0, y0), (x1, y1) = list(ds.as_numpy_iterator())
    np.testing.assert_array_equal(x0, images[0])
    assert (y0, y1) == (1, 0) and x1.shape == (300, 300, 3)
    by_index = L.labelled_dataset(images, np.array([2, -1, 1]), CLASSES)
    assert [int(y) for _, y in by_index.as_numpy_iterator()] == [2, 1]
    resized = L.labelled_dataset(images, [0, 1, 2], CLASSES, image_size=64)
    assert resized.element_spec[0].shape.as_list() == [64, 64, 3]
    # it joins a training set of another image size
    train = tf.data.Dataset.from_tensor_slices(
        (np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 1], np.int64))
    )
    assert int(train.concatenate(ds).cardinality()) == 4
    with pytest.raises(ValueError, match="no labelled"):
        L.labelled_dataset(images, {}, CLASSES)
    with pytest.raises(ValueError, match="unknown classes"):
        L.labelled_dataset(images, {0: "cactus"}, CLASSES)
    with pytest.raises(ValueError, match="labels for"):
        L.labelled_dataset(images, [0, 1], CLASSES)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        L.labelled_dataset(images, [0, 1, 7], CLASSES)
    with pytest.raises(TypeError):
        L.labelled_dataset(images, [0, 1, 2], CLASSES, image_size="big")
    with pytest.raises(ValueError, match="items for"):
        L.labelled_dataset(images, {0: "roses"}, CLASSES, items=[0])
