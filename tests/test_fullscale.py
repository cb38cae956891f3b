"""The stand-ins of tools/fullscale.py (the real-scale harness), at a tiny scale."""

import hashlib
import importlib.util
import sys
import tarfile
from pathlib import Path

import pytest
from PIL import Image

_PATH = Path(__file__).resolve().parent.parent / "tools" / "fullscale.py"
_spec = importlib.util.spec_from_file_location("fullscale", _PATH)
fullscale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fullscale)


def test_real_class_counts():
    counts = fullscale.class_counts()
    assert sum(counts.values()) == 3670
    assert sorted(counts) == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    assert fullscale.class_counts(0.01) == {
        "daisy": 6,
        "dandelion": 9,
        "roses": 6,
        "sunflowers": 7,
        "tulips": 8,
    }
    for bad in (0, -0.5, 1.5):
        with pytest.raises(ValueError, match="scale"):
            fullscale.class_counts(bad)


@pytest.fixture(scope="module")
def tgz(tmp_path_factory):
    path = tmp_path_factory.mktemp("fullscale") / "flower_photos.tgz"
    info = fullscale.make_flower_photos(path, scale=0.01)
    return path, info


def test_flower_photos_layout_and_sizes(tgz):
    path, info = tgz
    assert info["images"] == 36
    with tarfile.open(path) as tar:
        names = [m.name for m in tar.getmembers()]
        jpegs = [n for n in names if n.endswith(".jpg")]
        assert "flower_photos/LICENSE.txt" in names
        assert len(jpegs) == 36
        per_class = {}
        for name in jpegs:
            top, label, _ = name.split("/")
            assert top == "flower_photos"
            per_class[label] = per_class.get(label, 0) + 1
        assert per_class == fullscale.class_counts(0.01)
        shapes = set()
        for name in jpegs:
            with Image.open(tar.extractfile(name)) as image:
                assert image.format == "JPEG" and image.mode == "RGB"
                assert all(240 <= side <= 500 for side in image.size)
                shapes.add(image.size)
    assert len(shapes) > 30  # mixed sizes and aspect ratios, like the real photos


def test_flower_photos_are_deterministic(tgz, tmp_path):
    path, _ = tgz
    again = tmp_path / "flower_photos.tgz"
    fullscale.make_flower_photos(again, scale=0.01)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, again)]
    assert digest[0] == digest[1]


def test_tfds_own_builder_prepares_the_stand_in_offline(tgz, tmp_path):
    path, _ = tgz
    info = fullscale.build_tfds(path, tmp_path / "tfds")
    assert info["version"] == fullscale.TFDS_VERSION
    assert info["examples"] == 36
    assert info["labels"] == ["dandelion", "daisy", "tulips", "sunflowers", "roses"]
    import tensorflow_datasets as tfds

    cls = tfds.builder_cls("tf_flowers")
    assert cls.url_infos[next(iter(cls.url_infos))].size == 228813984  # restored


def test_measure_reports_the_peak_of_the_biggest_process(tmp_path):
    code = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.5)"
    result = fullscale.measure(
        [sys.executable, "-c", code], {}, tmp_path / "log", timeout=60
    )
    assert result["exit"] == 0
    assert 300 < result["peak_rss_mib"] < 450


def test_the_notebook_runner_honours_cwd_env_one_core_and_errors(tmp_path):
    """tools/notebook_runner.py: the one way the tools execute a notebook."""
    import nbformat

    runner = sys.modules["notebook_runner"]  # imported by fullscale.py
    (tmp_path / "here.txt").write_text("found")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os\n"
            "print(open('here.txt').read(), os.environ['ALW_X'], "
            "os.environ.get('OMP_NUM_THREADS'), len(os.sched_getaffinity(0)))"
        ),
        nbformat.v4.new_code_cell(
            "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])"
        ),
        nbformat.v4.new_code_cell("raise ValueError('on purpose')"),
        nbformat.v4.new_code_cell("print('after')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "sub" / "n.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    run = runner.execute(
        path, cwd=tmp_path, env={"ALW_X": "42"}, one_core=True, allow_errors=True
    )
    assert run.ok and run.nb.cells[0].outputs[0]["text"].split() == [
        "found",
        "42",
        "1",
        "1",
    ]
    assert run.nb.cells[2].outputs[0]["ename"] == "ValueError"
    assert run.nb.cells[3].outputs[0]["text"] == "after\n"  # errors allowed: it went on
    assert run.peak_rss_mib > 200  # the kernel's memory, measured
    failed = runner.execute(path, cwd=tmp_path, env={"ALW_X": "1"}, timeout=120)
    assert not failed.ok and "ValueError" in failed.log
    with pytest.raises(runner.CellExecutionError, match="n.ipynb"):
        failed.check("n.ipynb")
    with pytest.raises(ValueError, match="no notebook"):
        runner.execute(tmp_path / "missing.ipynb")
