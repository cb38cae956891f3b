"""ActiveLearningSession: the loop agrees with many_rounds, survives, re-ranks, refuses."""

import json

import numpy as np
import pytest

from alwidgets import many_rounds
from alwidgets.criteria import CRITERIA, select
from alwidgets.heads import HeadTrainer
from alwidgets.offline_images import make_offline_flowers
from alwidgets.session import (
    ActiveLearningSession,
    history_path,
    random_reference,
    read_history,
)

CLASSES = ["dandelion", "daisy", "tulips", "sunflowers", "roses"]
K = len(CLASSES)
POOL = 120
TRAINER = HeadTrainer(l2=0.03)


@pytest.fixture(scope="module")
def features(blobs):
    """Five overlapping Gaussian classes in 12 dimensions: train, validation, test, pool."""
    return blobs({"train": 40, "validation": 100, "test": 300, "pool": POOL})


@pytest.fixture(scope="module")
def images():
    return make_offline_flowers(POOL, seed=3)[0]


def make(images, features, path, **kwargs):
    options = dict(
        pool_features=features["pool"][0],
        train=features["train"],
        validation=features["validation"],
        trainer=TRAINER,
        true_labels=features["pool"][1],
        budget=40,
    )
    options.update(kwargs)
    return ActiveLearningSession(images, CLASSES, path, **options)


def test_the_oracle_session_is_many_rounds_with_batches_of_retrain_every(
    images, features, tmp_path
):
    session = make(images, features, tmp_path / "l.jsonl", test=features["test"])
    session.oracle()
    rows = many_rounds.simulate(
        features, "least_confidence", rounds=4, batch=10, trainer=TRAINER, n_classes=K
    )
    items, y = session.labelled()
    assert items.tolist() == rows[-1]["picked"]  # same images, in the same order
    assert (y == features["pool"][1][items]).all()
    assert [r["labels_used"] for r in session.history] == [0, 10, 20, 30, 40]
    assert [r["test_accuracy"] for r in session.history] == [
        r["test_accuracy"] for r in rows
    ]
    assert session.reranks == 4 and session.done
    assert session.accuracy() == 1.0  # the oracle agrees with itself


def test_the_next_image_is_the_most_uncertain_under_the_current_head(
    images, features, tmp_path
):
    session = make(images, features, tmp_path / "l.jsonl", retrain_every=5)
    for step in range(12):
        if step % 5 == 0:  # just after a retrain: the queue starts at the argmax
            items, y = session.labelled()
            x = np.concatenate([features["train"][0], features["pool"][0][items]])
            head = TRAINER.fit(
                x, np.concatenate([features["train"][1], y]), K, features["validation"]
            )
            scores = CRITERIA["least_confidence"](
                head.predict_proba(features["pool"][0])
            )
            rest = np.setdiff1d(np.arange(POOL), items)
            expected = rest[select(scores[rest], len(rest))]
            assert session.queue == expected.tolist()
            assert session.items[session.current] == expected[0]
        session.oracle(1)
    assert [r["labels_used"] for r in session.history] == [0, 5, 10]


def test_a_session_resumes_labels_history_and_model(images, features, tmp_path):
    path = tmp_path / "l.jsonl"
    first = make(images, features, path)
    first.oracle(15)
    assert [r["labels_used"] for r in first.history] == [0, 10]
    second = make(images, features, path)  # e.g. after a kernel restart
    assert not first.active
    assert second.n_labelled == 15
    assert [r["labels_used"] for r in second.history] == [0, 10, 15]
    assert second.history[-1]["reason"] == "resume"
    items, y = second.labelled()
    x = np.concatenate([features["train"][0], features["pool"][0][items]])
    head = TRAINER.fit(
        x, np.concatenate([features["train"][1], y]), K, features["validation"]
    )
    np.testing.assert_array_equal(second.head.weights, head.weights)
    assert second.items[second.current] == second.queue[0]
    third = make(images, features, path)  # nothing new: no new history row
    assert len(third.history) == 3
    assert read_history(history_path(path), CLASSES) == third.history
    third.oracle()
    assert third.n_labelled == 40 and third.history[-1]["labels_used"] == 40


def test_switching_the_criterion_re_ranks_and_is_recorded(images, features, tmp_path):
    session = make(images, features, tmp_path / "l.jsonl")
    session.oracle(3)
    session.set_criterion("entropy")
    assert session.history[-1]["reason"] == "criterion"
    assert session.history[-1]["criterion"] == "entropy"
    assert session.history[-1]["labels_used"] == 3
    scores = CRITERIA["entropy"](session.head.predict_proba(features["pool"][0]))
    rest = np.array(session.queue)
    assert session.queue == rest[select(scores[rest], len(rest))].tolist()
    session.criterion_buttons.value = "smallest_margin"  # the buttons do the same
    assert session.criterion == "smallest_margin"
    assert [r["criterion"] for r in session.history][-2:] == [
        "entropy",
        "smallest_margin",
    ]
    with pytest.raises(ValueError, match="criterion"):
        session.set_criterion("margin")


def test_the_key_r_retrains_once(images, features, tmp_path):
    session = make(images, features, tmp_path / "l.jsonl")
    session.oracle(4)
    session.press("r")
    assert session.history[-1]["reason"] == "key"
    assert session.history[-1]["labels_used"] == 4
    session.press("r")  # nothing new: no second row
    assert len(session.history) == 2
    assert "up to date" in session.annotator.view["status"]
    assert "r retrain" in session.annotator.setup["help"]


def test_the_front_end_gets_the_next_image_first_then_the_model(
    images, features, tmp_path, front_end
):
    session = make(images, features, tmp_path / "l.jsonl", retrain_every=3)
    annotator, true = session.annotator, features["pool"][1]
    seen = []
    annotator.observe(lambda change: seen.append(("view", change["new"])), "view")
    session.plot.observe(lambda change: seen.append(("plot", change["new"])), "data")

    def key(seq):  # what the front end sends: the key and the image it was pressed on
        item = session.items[session.current]
        content = {"event": "keydown", "key": str(true[item] + 1), "item": item}
        front_end(annotator, content | {"seq": seq})
        return item

    key(1)
    key(2)
    seen.clear()
    third = key(3)  # completes a batch: retrain and re-rank
    views = [v for kind, v in seen if kind == "view"]
    kinds = [kind for kind, _ in seen]
    # the label is confirmed (the front end already shows the next image) before
    # the (slow) retrain...
    shown = {e["item"]: e["label"] for e in views[0]["entries"]}
    assert views[0]["acked"] == 3 and shown[third] is not None
    assert views[0]["labelled"] == 3  # one message: saved, and the model updates
    assert views[0]["busy"] and "updating" in views[0]["status"]
    # ...then the re-ranked queue, then the plot, drawn in the browser from numbers
    assert (
        views[-1]["current"] == session.queue[0] and "re-ranked" in views[-1]["status"]
    )
    assert kinds.index("plot") > kinds.index("view") and kinds[-1] in ("plot", "view")
    plot = session.plot.data
    assert [r["labels_used"] for r in plot["rows"]] == [0, 3]
    assert sum(plot["shares"]) == pytest.approx(1)
    assert "rank 1 of" in session.annotator.panel(session.queue[0])


def test_undo_after_a_retrain_and_skips(images, features, tmp_path):
    session = make(images, features, tmp_path / "l.jsonl", retrain_every=2)
    session.oracle(2)
    assert session.history[-1]["labels_used"] == 2
    session.press("u")
    assert session.n_labelled == 1
    session.press("s")
    skipped = session.skipped
    assert len(skipped) == 1 and session.items[session.current] not in skipped
    session.oracle(1)
    assert session.n_labelled == 2
    session.oracle(2)
    assert session.history[-1]["labels_used"] == 4
    assert set(session.skipped) <= set(session.queue)


def test_the_plot_and_the_reference(images, features, tmp_path):
    steps = [0, 10, 20]
    ref, again = (
        random_reference(
            features["train"],
            features["validation"],
            *features["pool"],
            steps=steps,
            n_classes=K,
            seeds=(0, 1),
            trainer=TRAINER,
            test=features["test"],
        )
        for _ in range(2)  # twice: the same seeds give the same curves
    )
    assert ref["validation_accuracy"].shape == ref["test_accuracy"].shape == (2, 3)
    np.testing.assert_array_equal(ref["test_accuracy"], again["test_accuracy"])
    session = make(
        images,
        features,
        tmp_path / "l.jsonl",
        test=features["test"],
        reference=ref,
        profile="offline",
    )
    data = session.plot_data()
    assert data["title"] == "Live session (offline profile)"
    assert data["reference"]["mean"] == ref["validation_accuracy"].mean(0).tolist()
    assert data["reference"]["test"] == ref["test_accuracy"].mean(0).tolist()
    assert data["rows"][0]["test_accuracy"] is not None
    assert session.plot.data == data
    simulated = many_rounds.simulate(  # the reference is many_rounds' random curve
        features, "random", 2, 10, seed=1, trainer=TRAINER, n_classes=K
    )
    assert ref["test_accuracy"][1].tolist() == [r["test_accuracy"] for r in simulated]


def test_the_history_file_survives_a_cut_line_and_refuses_strangers(
    images, features, tmp_path
):
    path = tmp_path / "l.jsonl"
    session = make(images, features, path)
    session.oracle(10)
    hist = history_path(path)
    assert hist.name == "l.history.jsonl"
    with open(hist, "ab") as f:
        f.write(b'{"retrain": 9, "CUT')  # a crash in the middle of a line
    with pytest.warns(UserWarning, match="cut short"):
        resumed = make(images, features, path)
    assert [r["labels_used"] for r in resumed.history] == [0, 10]
    resumed.oracle(10)
    assert [r["labels_used"] for r in read_history(hist)] == [0, 10, 20]
    with open(hist, "ab") as f:
        f.write(b'{"retrain": 9, "CUT')
    with pytest.warns(UserWarning, match="cut short"):
        assert len(read_history(hist)) == 3
    resumed.set_criterion("entropy")  # the next row: the cut line goes first
    assert b"CUT" not in hist.read_bytes()
    assert [r["criterion"] for r in read_history(hist)][-1] == "entropy"
    header = json.loads(hist.read_text().splitlines()[0])
    assert header["classes"] == CLASSES
    other = tmp_path / "o.jsonl"
    history_path(other).write_text("not json\n")
    with pytest.raises(ValueError, match="not an alwidgets session history"):
        make(images, features, other)
    with pytest.raises(ValueError, match="classes"):
        read_history(hist, CLASSES[::-1])


def test_bad_input_is_refused_with_a_clear_message(images, features, tmp_path):
    path = tmp_path / "l.jsonl"
    with pytest.raises(ValueError, match="criterion"):
        make(images, features, path, criterion="margin")
    with pytest.raises(ValueError, match="retrain_every"):
        make(images, features, path, retrain_every=0)
    with pytest.raises(TypeError, match="retrain_every"):
        make(images, features, path, retrain_every=2.5)
    with pytest.raises(ValueError, match="validation has 3 features"):
        make(images, features, path, validation=(np.zeros((4, 3)), np.zeros(4, int)))
    with pytest.raises(TypeError, match="train must be a pair"):
        make(images, features, path, train=features["train"][0])
    with pytest.raises(ValueError, match="reference"):
        make(images, features, path, reference={"x": 1})
    with pytest.raises(TypeError, match="trainer"):
        make(images, features, path, trainer="lbfgs")
    with pytest.raises(ValueError, match="images for"):
        make(images[:10], features, tmp_path / "m.jsonl", true_labels=None, budget=5)
    with pytest.raises(ValueError, match="true_labels has 3 labels"):
        make(images, features, path, true_labels=[0, 1, 2])
    with pytest.raises(ValueError, match="oracle"):
        make(images, features, tmp_path / "n.jsonl", true_labels=None).oracle()
    with pytest.raises(ValueError, match="steps"):
        random_reference(
            features["train"],
            features["validation"],
            *features["pool"],
            steps=[],
            n_classes=K,
            trainer=TRAINER,
        )
    with pytest.raises(TypeError, match="path"):
        history_path(3)


def test_a_taken_over_session_stops_writing(images, features, tmp_path):
    path = tmp_path / "l.jsonl"
    old = make(images, features, path)
    old.oracle(3)
    new = make(images, features, path)
    rows = len(new.history)
    old.set_criterion("entropy")
    old.press("r")
    assert old.criterion == "least_confidence" and not old.active
    assert len(read_history(history_path(path))) == rows
    assert "took over" in old.annotator.feedback
    new.oracle(1)
    assert new.n_labelled == 4


def test_a_write_error_on_the_label_that_retrains_is_shown(images, features, tmp_path):
    path = tmp_path / "l.jsonl"
    session = make(images, features, path, retrain_every=3)
    session.oracle(2)
    shown = session.current
    path.unlink()
    path.mkdir()  # unwritable, even for root
    try:
        session.oracle(1)
        assert "NOT counted" in session.annotator.feedback
        assert session.n_labelled == 2 and session.current == shown
        assert [r["labels_used"] for r in session.history] == [0]
    finally:
        path.rmdir()
    session.oracle(1)  # fixed: the file is re-created and the batch completes
    assert [r["labels_used"] for r in session.history] == [0, 3]
