"""Real-scale check of the full profile (issue 9), without network.

Usage: python tools/fullscale.py [--scale 1.0] [--only prefetch,02,...] [--workdir DIR]
(or ``make fullscale``). Two steps:

1. Stand-ins, built once into the work folder (default ``build/fullscale/``) and reused:
   * ``flower_photos.tgz`` like the real one: 3,670 JPEGs in the real class folders with
     the real class counts, 240–500 px per side, coloured flowers per class (learnable),
     seeded. ``--scale`` keeps the sizes and takes a fraction of the images (note: the
     package's fixed split sizes and its check for 3,670 examples reject fewer; at
     scale 1.0 the whole harness takes ~13 minutes on two cores, one of them used).
   * ``tfds/``: tf_flowers built from it by TFDS's own ``tf_flowers`` builder. TFDS is
     told that the archive was downloaded by hand (``DownloadConfig(manual_dir=...)``)
     and, in this build process only, the builder's registered checksum of the real
     archive is replaced by the stand-in's: nothing is fetched.
   * ``inaturalist/``: a SavedModel with the TF Hub Reusable SavedModel interface
     (``obj(images, training)``, ``obj.variables``, ``obj.trainable_variables``,
     ``obj.regularization_losses``) whose compute is Keras' InceptionV3 (random
     weights, 2,048-d output, input in [0, 1]).
   * ``keras/models/``: random MobileNetV2 weights under the file names Keras
     downloads the ImageNet ones to, so ``weights="imagenet"`` needs no network.
2. Runs, each in its own process on one core with ``binder/start``'s thread caps and the
   full profile: ``python -m alwidgets.prefetch``, then notebooks 02–07 executed
   headless. They share a fresh ``ALWIDGETS_CACHE_DIR`` (as in a Binder image that
   prefetch filled). Per run: wall time, peak RSS of the process doing the work (the
   kernel for notebooks; its VmHWM, the kernel's own high-water mark, read every 0.2 s),
   pass/fail against Binder's limit. Results go to ``<workdir>/results.json``; the exit
   status is 1 if any run fails or goes over the limit.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import nbformat
import numpy as np

from alwidgets.config import PREFETCH_MARKER

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))  # also when imported by path
from notebook_runner import ONE_CORE, execute, measure  # noqa: E402

LIMIT_MIB = 1843  # Binder's 2 GB, less a margin: 1.8 GiB
#: tf_flowers' class folders and image counts (3,670 in all).
CLASS_COUNTS = {
    "daisy": 633,
    "dandelion": 898,
    "roses": 641,
    "sunflowers": 699,
    "tulips": 799,
}
#: Runs in order; "prefetch" is Binder's build step, the others are notebooks.
NOTEBOOKS = {
    "02": "02_split_tf_flowers.ipynb",
    "03": "03_transfer_learning.ipynb",
    "04": "04_least_confidence_selection.ipynb",
    "05": "05_label_and_retrain.ipynb",
    "06": "06_active_vs_random.ipynb",
    "07": "07_live_session.ipynb",
}
RUNS = ("prefetch", *NOTEBOOKS)
TFDS_VERSION = "3.0.1"
STAND_IN_VERSION = 2  # bump when a stand-in changes: the work folder is rebuilt
SEED = 0

# Per class: petal RGB (and a second one to mix in), centre RGB, petals, petal length
# and width (shares of the flower radius), centre radius (share).
_LOOKS = {
    "daisy": ((245, 245, 240), (230, 225, 250), (235, 190, 30), 16, 0.95, 0.20, 0.28),
    "dandelion": ((250, 215, 20), (245, 190, 10), (235, 180, 10), 40, 0.95, 0.08, 0.15),
    "roses": ((190, 20, 40), (230, 90, 130), (120, 10, 25), 9, 1.00, 0.70, 0.35),
    "sunflowers": ((250, 190, 20), (240, 160, 10), (80, 45, 15), 22, 1.00, 0.22, 0.45),
    "tulips": ((235, 70, 150), (250, 120, 40), (60, 90, 30), 5, 1.00, 0.45, 0.10),
}


# --- stand-in 1: flower_photos.tgz ---------------------------------------------------


def class_counts(scale: float = 1.0) -> dict[str, int]:
    """Images per class folder at ``scale`` (a share of tf_flowers' 3,670)."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    return {k: max(1, round(n * scale)) for k, n in CLASS_COUNTS.items()}


def flower_image(label: str, rng: np.random.Generator):
    """One photo-like JPEG-able PIL image of ``label``: 240–500 px per side."""
    from PIL import Image, ImageDraw, ImageFilter

    petal_a, petal_b, centre, n_petals, length, width, core = _LOOKS[label]
    w, h = (int(v) for v in rng.integers(240, 501, size=2))
    # Background: a blurred field of greens and browns with grain.
    small = rng.integers(0, 256, size=(6, 6, 3)).astype(np.float32)
    small = small * np.array([0.35, 0.55, 0.30]) + np.array([20, 40, 10])
    image = Image.fromarray(small.clip(0, 255).astype(np.uint8)).resize(
        (w, h), Image.BICUBIC
    )
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        radius = float(rng.uniform(0.2, 0.4)) * min(w, h)
        cx, cy = rng.uniform(radius * 0.6, w - radius * 0.6), rng.uniform(0, h)
        mix = float(rng.uniform(0, 1 if label in ("roses", "tulips") else 0.4))
        petal = tuple(
            int(a * (1 - mix) + b * mix + rng.normal(0, 8))
            for a, b in zip(petal_a, petal_b)
        )
        turn = rng.uniform(0, 2 * np.pi)
        for k in range(n_petals):
            angle = turn + 2 * np.pi * k / n_petals
            along = np.array([np.cos(angle), np.sin(angle)])
            across = np.array([-along[1], along[0]])
            s = np.linspace(0, 2 * np.pi, 16, endpoint=False)[:, None]
            half = radius * length / 2
            pts = (
                np.array([cx, cy])
                + along * half * (1 + np.cos(s))
                + across * radius * width / 2 * np.sin(s)
            )
            shade = tuple(int(c * rng.uniform(0.85, 1.05)) for c in petal)
            draw.polygon([(float(x), float(y)) for x, y in pts], fill=shade)
        r = radius * core
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=centre)
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + rng.normal(0, 11, size=pixels.shape)  # sensor grain
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def make_flower_photos(
    path: Path, scale: float = 1.0, seed: int = SEED, quality: int = 92
) -> dict:
    """Write a ``flower_photos.tgz`` like TensorFlow's (same layout, sizes, counts).

    Deterministic for a given ``seed`` and ``scale``. Returns counts and sizes.
    """
    from tqdm import tqdm

    counts = class_counts(scale)
    tmp = path.with_name(path.name + ".tmp")
    sizes = []
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
        tqdm(total=sum(counts.values()), desc="flower_photos.tgz") as bar,
    ):

        def add(name: str, payload: bytes) -> None:
            info = tarfile.TarInfo(f"flower_photos/{name}")
            info.size, info.mtime, info.mode = len(payload), 0, 0o644
            tar.addfile(info, io.BytesIO(payload))

        add("LICENSE.txt", b"Generated stand-in for tf_flowers (tools/fullscale.py).\n")
        for c, (label, n) in enumerate(counts.items()):
            for i in range(n):
                rng = np.random.default_rng([seed, c, i])
                buf = io.BytesIO()
                image = flower_image(label, rng)
                image.save(buf, "JPEG", quality=quality)
                sizes.append((*image.size, buf.tell()))
                add(
                    f"{label}/{seed}{c}{i:05d}_{rng.integers(1 << 30):x}_n.jpg",
                    buf.getvalue(),
                )
                bar.update()
    os.replace(tmp, path)
    sizes = np.array(sizes)
    return {
        "counts": counts,
        "images": int(len(sizes)),
        "side_px": [int(sizes[:, :2].min()), int(sizes[:, :2].max())],
        "jpeg_mib": round(float(sizes[:, 2].sum()) / 2**20, 1),
        "tgz_mib": round(path.stat().st_size / 2**20, 1),
    }


# --- stand-in 2: tf_flowers by TFDS's own builder -----------------------------------


def build_tfds(tgz: Path, data_dir: Path) -> dict:
    """Prepare tf_flowers in ``data_dir`` from ``tgz`` with TFDS's ``tf_flowers``."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import checksums

    builder = tfds.builder("tf_flowers", data_dir=str(data_dir))
    cls = type(builder)
    (url, real), *_ = cls.url_infos.items()  # the real archive's size and sha256
    mine = checksums.compute_url_info(tgz)
    # In this process only: register the stand-in's checksum instead of the real one,
    # under the same file name, which TFDS then takes from manual_dir (no download).
    if tgz.name != real.filename:
        raise ValueError(f"the archive must be called {real.filename}")
    cls.url_infos = {url: dataclasses.replace(mine, filename=real.filename)}
    try:
        config = tfds.download.DownloadConfig(manual_dir=str(tgz.parent))
        builder.download_and_prepare(
            download_dir=str(data_dir / "downloads"), download_config=config
        )
    finally:
        del cls.url_infos  # TFDS' own (the real archive's) again
    shutil.rmtree(data_dir / "downloads", ignore_errors=True)
    return {
        "version": str(builder.info.version),
        "examples": int(builder.info.splits["train"].num_examples),
        "mib": round(builder.info.dataset_size / 2**20, 1),
        "labels": list(builder.info.features["label"].names),
    }


# --- stand-ins 3 and 4: the backbones ------------------------------------------------


def build_hub_model(folder: Path) -> dict:
    """A Reusable SavedModel (TF Hub interface) computing InceptionV3, random weights."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    net = keras.applications.InceptionV3(
        include_top=False, weights=None, pooling="avg", input_shape=(None, None, 3)
    )

    class Hub(tf.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.float32),
                tf.TensorSpec([], tf.bool),
            ]
        )
        def __call__(self, images, training):
            x = images * 2.0 - 1.0  # the hub model takes [0, 1]; Keras' wants [-1, 1]
            return tf.cond(
                training,
                lambda: self.net(x, training=True),
                lambda: self.net(x, training=False),
            )

    module = Hub()
    root = tf.train.Checkpoint()
    root.module = module
    root.variables = list(net.weights)
    root.trainable_variables = list(net.trainable_weights)
    root.regularization_losses = []
    root.__call__ = module.__call__
    out = root.__call__(tf.zeros([1, 299, 299, 3]), tf.constant(False))
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tf.saved_model.save(root, str(tmp))
    shutil.rmtree(folder, ignore_errors=True)  # a stale one
    os.replace(tmp, folder)
    mib = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
    return {
        "output": list(out.shape),
        "variables": len(root.variables),
        "trainable": len(root.trainable_variables),
        "mib": round(mib, 1),
    }


def build_keras_weights(keras_home: Path) -> dict:
    """Random MobileNetV2 "ImageNet" weights where Keras caches the downloaded ones."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format  # harness only

    folder = keras_home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for rows in (160, 224):
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
        net = keras.applications.MobileNetV2(
            include_top=False, weights=None, input_shape=(rows, rows, 3)
        )
        with h5py.File(folder / (name + ".tmp"), "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, net)
        os.replace(folder / (name + ".tmp"), folder / name)
        written.append(name)
    return {"files": written}


# --- building them once ---------------------------------------------------------------

STEPS = ("tgz", "tfds", "model", "keras")


def _step(name: str, work: Path, scale: float) -> dict:
    if name == "tgz":
        return make_flower_photos(work / "flower_photos.tgz", scale)
    if name == "tfds":
        shutil.rmtree(work / "tfds", ignore_errors=True)
        return build_tfds(work / "flower_photos.tgz", work / "tfds")
    if name == "model":
        return build_hub_model(work / "inaturalist")
    if name == "keras":
        return build_keras_weights(work / "keras")
    raise ValueError(name)


def _present(name: str, work: Path) -> bool:
    """Whether the output of step ``name`` is (still) in ``work``."""
    return {
        "tgz": work / "flower_photos.tgz",
        "tfds": work / "tfds" / "tf_flowers" / TFDS_VERSION / "dataset_info.json",
        "model": work / "inaturalist" / "saved_model.pb",
        "keras": work / "keras" / "models",
    }[name].exists()


def build_stand_ins(work: Path, scale: float) -> dict:
    """Build what is missing or stale (each step in its own process); return the log."""
    work.mkdir(parents=True, exist_ok=True)
    stamp = work / "stand-ins.json"
    key = {"version": STAND_IN_VERSION, "scale": scale, "seed": SEED}
    done = json.loads(stamp.read_text()) if stamp.exists() else {}
    if done.get("key") != key:
        done = {"key": key, "steps": {}}
    for name in STEPS:
        if name in done["steps"] and _present(name, work):
            print(
                f"stand-in {name}: reused ({done['steps'][name]['seconds']} s to build)"
            )
            continue
        if name == "tgz":  # everything after it depends on the archive
            for later in STEPS:
                done["steps"].pop(later, None)
        print(f"stand-in {name}: building…", flush=True)
        start = time.monotonic()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        cmd = [sys.executable, __file__, "--workdir", str(work), "--scale", str(scale)]
        out = subprocess.run(
            [*cmd, "--build-step", name], env=env, stdout=subprocess.PIPE, text=True
        )
        if out.returncode:
            raise SystemExit(f"stand-in {name} failed (exit {out.returncode})")
        info = json.loads(out.stdout.strip().splitlines()[-1])
        info["seconds"] = round(time.monotonic() - start, 1)
        print(f"stand-in {name}: {info}", flush=True)
        done["steps"][name] = info
        stamp.write_text(json.dumps(done, indent=1))
    return done


# --- the runs ------------------------------------------------------------------------


def run_all(work: Path, runs: list[str], timeout: float) -> list[dict]:
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    logs, executed = work / "logs", work / "executed"
    logs.mkdir(exist_ok=True)
    executed.mkdir(exist_ok=True)
    env = {
        "ALWIDGETS_PROFILE": "full",
        "ALWIDGETS_CACHE_DIR": str(cache),
        "ALWIDGETS_INATURALIST_HANDLE": str(work / "inaturalist"),
        "TFDS_DATA_DIR": str(work / "tfds"),
        "KERAS_HOME": str(work / "keras"),
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
    }
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    results = []
    for run in runs:
        print(f"run {run}: started {time.strftime('%H:%M:%S')}", flush=True)
        log = logs / f"{run}.log"
        if run == "prefetch":
            cmd = [*pin, sys.executable, "-m", "alwidgets.prefetch"]
            done = measure(cmd, {**os.environ, **ONE_CORE, **env}, log, timeout, ROOT)
        else:
            path = ROOT / "notebooks" / NOTEBOOKS[run]
            ran = execute(path, env=env, timeout=timeout, one_core=True, log=log)
            if ran.nb is not None:
                nbformat.write(ran.nb, executed / path.name)
            done = {"wall_s": ran.seconds, "exit": ran.exit}
            done["peak_rss_mib"] = ran.peak_rss_mib
        result = {"run": run, **done, "log": str(log)}
        marker = cache / PREFETCH_MARKER
        if run == "prefetch" and marker.exists() and not result["exit"]:
            result["exit"] = f"marker {marker.name}: {marker.read_text().strip()}"
        result["ok"] = result["exit"] == 0 and result["peak_rss_mib"] <= LIMIT_MIB
        if result["exit"]:
            result["error"] = _last_error(log.read_text(errors="replace"))
            print(f"run {run}: FAILED, last lines of {log}:\n{result['error']}")
        print(
            f"run {run}: {result['wall_s']} s, {result['peak_rss_mib']} MiB", flush=True
        )
        results.append(result)
    return results


def _last_error(text: str, lines: int = 25) -> str:
    """The end of a log, without terminal colours."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text).rstrip()
    return "\n".join(plain.splitlines()[-lines:])


def table(results: list[dict]) -> str:
    rows = [
        f"{'run':<10}{'wall s':>9}{'peak RSS MiB':>14}  result (limit {LIMIT_MIB} MiB)"
    ]
    for r in results:
        verdict = "pass" if r["ok"] else ("ERROR" if r["exit"] else "OVER LIMIT")
        rows.append(
            f"{r['run']:<10}{r['wall_s']:>9.1f}{r['peak_rss_mib']:>14.0f}  {verdict}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "fullscale")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="share of the 3,670 images (sizes kept)",
    )
    parser.add_argument(
        "--only", default=",".join(RUNS), help=f"comma-separated subset of {RUNS}"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--build-only", action="store_true", help="stand-ins only")
    parser.add_argument("--build-step", choices=STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = args.workdir.resolve()
    class_counts(args.scale)  # validates
    if args.build_step:  # one stand-in, in a child process; its log on the last line
        print(json.dumps(_step(args.build_step, work, args.scale)), flush=True)
        return 0
    runs = [r.strip() for r in args.only.split(",") if r.strip()]
    unknown = sorted(set(runs) - set(RUNS))
    if unknown:
        parser.error(f"unknown runs {unknown}; choose from {RUNS}")
    start = time.monotonic()
    stand_ins = build_stand_ins(work, args.scale)
    if args.build_only:
        return 0
    results = run_all(work, runs, args.timeout)
    report = {
        "scale": args.scale,
        "limit_mib": LIMIT_MIB,
        "machine": f"{platform.node()} · {os.cpu_count()} cores",
        "pinned_to_one_core": bool(shutil.which("taskset")),
        "stand_ins": stand_ins["steps"],
        "runs": results,
        "total_s": round(time.monotonic() - start, 1),
    }
    (work / "results.json").write_text(json.dumps(report, indent=1))
    print()
    print(table(results))
    print(f"total {report['total_s']:.0f} s · results in {work / 'results.json'}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
