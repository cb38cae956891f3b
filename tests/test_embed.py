"""Sharded, resumable embedding: a kill -9 loses and repeats nothing."""

import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from alwidgets import embed, images_in


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images") / "mine"
    written = images_in.write_example_folder(root, n=30, n_bad=6, seed=5)
    return root, written


@pytest.fixture(scope="module")
def whole(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "features"
    return embed.embed(folder[0], out, "tiny_offline", batch_size=4, shard_size=5)


def test_features_index_and_bad_files(folder, whole):
    root, written = folder
    found = images_in.find_images(root)
    assert len(whole) == 30 and whole.features.shape == (30, 480)
    assert whole.features.dtype == np.float32 and np.isfinite(whole.features).all()
    assert {b.path: b.kind for b in whole.bad} == written["bad"]
    assert sorted(
        whole.ids.tolist() + [found.paths.index(b.path) for b in whole.bad]
    ) == list(range(36))
    assert whole.paths == [found.paths[i] for i in whole.ids]
    assert (whole.labels == found.labels[whole.ids]).all()
    assert whole.index["backbone"] == "tiny_offline" and whole.index["n_images"] == 36


def test_same_images_same_features_whatever_the_batch(folder, whole, tmp_path):
    again = embed.embed(
        folder[0], tmp_path / "f", "tiny_offline", batch_size=7, shard_size=36
    )
    assert np.array_equal(again.ids, whole.ids)
    np.testing.assert_allclose(again.features, whole.features, rtol=1e-5, atol=1e-6)


def test_kill_9_mid_write_then_resume(folder, whole, tmp_path):
    """Killed (SIGKILL) after shard 3's temporary file is written, before its rename."""
    out = tmp_path / "f"
    script = textwrap.dedent(
        f"""
        import os, signal
        from alwidgets import embed
        original = embed._atomic_write
        def write(path, data):
            if path.name == "shard-00003.npz":
                (path.parent / ".shard-00003.npz.partial.tmp").write_bytes(data[:100])
                os.kill(os.getpid(), signal.SIGKILL)
            original(path, data)
        embed._atomic_write = write
        embed.embed({str(folder[0])!r}, {str(out)!r}, "tiny_offline", batch_size=4,
                    shard_size=5, progress=False)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert run.returncode == -signal.SIGKILL
    assert sorted(p.name for p in out.glob("shard-*.npz")) == [
        f"shard-0000{k}.npz" for k in range(3)
    ]
    assert embed.shards_done(out) == [0, 1, 2]
    with pytest.raises(ValueError, match="not complete: 5 of 8 shards missing"):
        embed.read_features(out)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.npz")}
    resumed = embed.embed(folder[0], out, "tiny_offline", batch_size=4, shard_size=5)
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.npz")}
    assert all(after[name] == t for name, t in before.items())  # not redone
    assert not list(out.glob(".*.tmp"))
    assert np.array_equal(resumed.ids, whole.ids)  # each image once, none lost
    assert [b.path for b in resumed.bad] == [b.path for b in whole.bad]
    np.testing.assert_allclose(resumed.features, whole.features, rtol=1e-5, atol=1e-6)


def test_a_folder_of_another_run_is_refused(folder, whole, tmp_path):
    out = tmp_path / "f"
    embed.embed(folder[0], out, "tiny_offline", shard_size=50, progress=False)
    with pytest.raises(ValueError, match=r"another run \(different \['shard_size'\]\)"):
        embed.embed(folder[0], out, "tiny_offline", shard_size=10)
    index = json.loads((out / "index.json").read_text())
    assert index["shard_size"] == 50
    # Pillow's version changes decoded pixels: another one never resumes this folder.
    (out / "index.json").write_text(json.dumps({**index, "pillow": "0.0"}))
    with pytest.raises(ValueError, match=r"different \['pillow'\]"):
        embed.embed(folder[0], out, "tiny_offline", shard_size=50)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        embed.embed(folder[0], tmp_path / "other", "tiny_offline")
    with pytest.raises(ValueError, match="unknown backbone"):
        embed.embed(folder[0], tmp_path / "g", "resnet")
    with pytest.raises(ValueError, match="batch_size must be in"):
        embed.embed(folder[0], tmp_path / "g", "tiny_offline", batch_size=0)
    with pytest.raises(ValueError, match="holds no index.json"):
        embed.read_features(tmp_path)
