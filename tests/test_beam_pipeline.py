"""The Beam pipeline (the ``scale`` extra): same shards, same features, same selection."""

import numpy as np
import pytest

pytest.importorskip("apache_beam")

from alwidgets import beam_pipeline, embed, heads, images_in  # noqa: E402
from alwidgets.criteria import CRITERIA, select  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images") / "mine"
    written = images_in.write_example_folder(root, n=40, n_bad=6, seed=11)
    return root, written


def test_two_workers_give_the_in_process_features_and_selection(folder, tmp_path):
    root, written = folder
    local = embed.embed(root, tmp_path / "local", "tiny_offline", shard_size=8)
    result = beam_pipeline.run(
        root, tmp_path / "beam", "tiny_offline", shard_size=8, batch_size=16
    )
    beam = result["features"]
    assert result["embedded"] == 46
    assert not (tmp_path / "beam" / beam_pipeline.PARTS).exists()  # merged, removed
    assert np.array_equal(beam.ids, local.ids)
    np.testing.assert_allclose(beam.features, local.features, rtol=1e-5, atol=1e-6)
    assert [(b.path, b.reason) for b in beam.bad] == [
        (b.path, b.reason) for b in local.bad
    ]
    assert {b.path: b.kind for b in beam.bad} == written["bad"]
    # The shards are the same files: same names, same ids in each.
    for name in sorted(p.name for p in (tmp_path / "local").glob("shard-*.npz")):
        a = np.load(tmp_path / "local" / name)
        b = np.load(tmp_path / "beam" / name)
        assert np.array_equal(a["ids"], b["ids"]) and np.array_equal(
            a["bad_ids"], b["bad_ids"]
        )

    labelled = np.arange(15)
    head = heads.HeadTrainer(l2=1e-2, calibrate=False).fit(
        local.features[labelled], local.labels[labelled], 5
    )
    for criterion in ("least_confidence", "entropy"):
        ids = beam_pipeline.select(
            tmp_path / "beam",
            head,
            10,
            criterion,
            exclude=local.ids[labelled],
            pipeline_args=["--runner=DirectRunner"],
        )
        rest = np.arange(15, len(local))
        scores = CRITERIA[criterion](head.predict_proba(local.features[rest]))
        assert ids == local.ids[rest[select(scores, 10)]].tolist()


def test_resumes_only_the_missing_shards(folder, tmp_path):
    root, _ = folder
    out = tmp_path / "beam"
    first = embed.embed(root, out, "tiny_offline", shard_size=8)
    (out / "shard-00002.npz").unlink()
    (out / "shard-00005.npz").unlink()
    result = beam_pipeline.run(
        root, out, "tiny_offline", shard_size=8, pipeline_args=["--runner=DirectRunner"]
    )
    assert result["embedded"] == 8 + 6  # shard 5 is the last, with 6 images
    assert np.array_equal(result["features"].ids, first.ids)
    np.testing.assert_allclose(
        result["features"].features, first.features, rtol=1e-5, atol=1e-6
    )


def test_input_checks(folder, tmp_path):
    root, _ = folder
    with pytest.raises(TypeError, match="pipeline_args must be a list"):
        beam_pipeline.run(
            root, tmp_path / "x", "tiny_offline", pipeline_args="--runner=X"
        )
    with pytest.raises(ValueError, match="workers must be in"):
        beam_pipeline.local_options(0)
    with pytest.raises(TypeError, match="head must be an alwidgets.heads.Head"):
        beam_pipeline.select(tmp_path, object(), 3)
