"""Issue 23's scale measurements: in-process vs Beam on a generated folder of images.

Steps (each skipped when its output exists, so a stopped run continues):

1. ``folder``: ``--images`` generated flower photos of mixed sizes (48-640 px, JPEG)
   of which ``--bad-share`` are bad files of the six kinds;
2. ``local``: :func:`alwidgets.embed.embed` in this process;
3. ``beam2`` / ``beam1``: ``python -m alwidgets.beam_pipeline`` on the
   DirectRunner, ``multi_processing`` with 2 and 1 workers (one TensorFlow thread
   each), in a subprocess that reports its own (the driver's) peak RSS;
4. compare: features (max absolute difference), ids, bad files and their
   reasons; the top ``--budget`` least-confident images under a head trained on
   200 known labels, in-process (:func:`alwidgets.criteria.select`) and on Beam
   (:func:`alwidgets.beam_pipeline.select`, 2 workers);
5. ``kill``: an in-process embedding killed with SIGKILL once 3 shards are
   written, then resumed: every image once, the same features as uninterrupted;
6. ``memory``: the driver's peak RSS for CSV lists of 10^4 and 10^5 paths (the
   folder's paths repeated), 2 workers;
7. ``speed``: the 10^5 paths on 1 worker: the speed-up of 2 workers once each
   worker's TensorFlow start (about 7 s) is amortised.

Usage::

    nice -n 10 python tools/benchmark_scale.py --work /tmp/scale --images 20000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

BACKBONE = "tiny_offline"


def beam_cli(source: Path, out: Path, workers: int, shard_size: int) -> dict:
    """Run the Beam CLI in a subprocess; its JSON line plus the wall time."""
    cmd = [
        sys.executable,
        "-m",
        "alwidgets.beam_pipeline",
        str(source),
        str(out),
        "--backbone",
        BACKBONE,
        "--shard_size",
        str(shard_size),
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={workers}",
        "--default_sdk_harness_log_level=ERROR",
    ]
    started = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if run.returncode:
        raise RuntimeError(f"{cmd} failed:\n{run.stderr[-3000:]}")
    line = [x for x in run.stdout.splitlines() if x.startswith("{")][-1]
    return {**json.loads(line), "wall_s": round(wall, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--bad-share", type=float, default=0.01)
    parser.add_argument("--shard-size", type=int, default=1024)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--steps", nargs="+", default=["all"])
    args = parser.parse_args(argv)
    steps = set(args.steps)
    wanted = lambda s: "all" in steps or s in steps  # noqa: E731
    from alwidgets import embed, images_in

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    results_file = work / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}

    def save():
        results_file.write_text(json.dumps(results, indent=1))

    folder = work / "images"
    n_bad = round(args.images * args.bad_share)
    if not folder.exists():
        started = time.perf_counter()
        images_in.write_example_folder(
            folder, n=args.images - n_bad, n_bad=n_bad, sizes=(48, 640), png_share=0
        )
        results["folder"] = {
            "images": args.images,
            "bad": n_bad,
            "seconds": round(time.perf_counter() - started, 1),
        }
        save()
    found = images_in.find_images(folder)

    if wanted("local") and "local" not in results:
        started = time.perf_counter()
        local = embed.embed(found, work / "local", BACKBONE, shard_size=args.shard_size)
        seconds = time.perf_counter() - started
        results["local"] = {
            "seconds": round(seconds, 1),
            "images_per_s": round(len(found) / seconds, 1),
        }
        save()
    for workers in (2, 1):
        key = f"beam{workers}"
        if wanted(key) and key not in results:
            out = beam_cli(folder, work / key, workers, args.shard_size)
            out["images_per_s"] = round(len(found) / out["seconds"], 1)
            results[key] = out
            save()
    if "beam2" in results and "beam1" in results:
        results["speed_up_2_vs_1_workers"] = round(
            results["beam2"]["images_per_s"] / results["beam1"]["images_per_s"], 2
        )

    if wanted("compare"):
        from alwidgets import beam_pipeline, heads
        from alwidgets.criteria import least_confidence, select

        local = embed.read_features(work / "local")
        on_beam = embed.read_features(work / "beam2")
        rng = np.random.default_rng(0)
        labelled = np.sort(rng.choice(len(local), 200, replace=False))
        head = heads.HeadTrainer(l2=1.0, calibrate=False).fit(
            local.features[labelled], local.labels[labelled], len(local.class_names)
        )
        rest = np.setdiff1d(np.arange(len(local)), labelled)
        scores = least_confidence(head.predict_proba(local.features[rest]))
        mine = local.ids[rest[select(scores, args.budget)]].tolist()
        started = time.perf_counter()
        theirs = beam_pipeline.select(
            work / "beam2",
            head,
            args.budget,
            exclude=local.ids[labelled],
            pipeline_args=beam_pipeline.local_options(2),
        )
        kinds = {}
        for b in local.bad:
            kinds[b.kind] = kinds.get(b.kind, 0) + 1
        results["compare"] = {
            "same_ids": bool(np.array_equal(local.ids, on_beam.ids)),
            "max_abs_difference": float(
                np.abs(local.features - on_beam.features).max()
            ),
            "max_abs_feature": float(np.abs(local.features).max()),
            "same_bad_files_and_reasons": [(b.path, b.reason) for b in local.bad]
            == [(b.path, b.reason) for b in on_beam.bad],
            "bad_by_kind": kinds,
            "selection_identical": mine == theirs,
            "selection_budget": args.budget,
            "beam_select_seconds": round(time.perf_counter() - started, 1),
        }
        save()

    if wanted("kill") and "kill" not in results:
        import signal

        out = work / "killed"
        script = (
            "from alwidgets import embed\n"
            f"embed.embed({str(folder)!r}, {str(out)!r}, {BACKBONE!r}, "
            f"shard_size={args.shard_size}, progress=False)\n"
        )
        child = subprocess.Popen([sys.executable, "-c", script])
        while len(list(out.glob("shard-*.npz"))) < 3 and child.poll() is None:
            time.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.wait()
        at_kill = len(embed.shards_done(out))
        resumed = embed.embed(found, out, BACKBONE, shard_size=args.shard_size)
        local = embed.read_features(work / "local")
        every = np.concatenate(
            [resumed.ids, [found.paths.index(b.path) for b in resumed.bad]]
        )
        results["kill"] = {
            "returncode": child.returncode,
            "shards_complete_at_kill": at_kill,
            "shards": -(-len(found) // args.shard_size),
            "every_image_once": bool(
                np.array_equal(np.sort(every), np.arange(len(found)))
            ),
            "same_as_uninterrupted": bool(np.array_equal(resumed.ids, local.ids))
            and bool(
                np.allclose(resumed.features, local.features, rtol=1e-5, atol=1e-6)
            ),
        }
        save()

    if wanted("memory"):
        for n in (10_000, 100_000):
            key = f"memory_{n}"
            if key in results:
                continue
            table = work / f"paths-{n}.csv"
            with open(table, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["path"])
                for i in range(n):
                    writer.writerow([found.paths[i % len(found)]])
            out = beam_cli(table, work / f"mem-{n}", 2, args.shard_size)
            out["images_per_s"] = round(n / out["seconds"], 1)
            results[key] = out
            save()
        if "memory_10000" in results and "memory_100000" in results:
            a = results["memory_10000"]["driver_peak_rss_mib"]
            b = results["memory_100000"]["driver_peak_rss_mib"]
            results["driver_memory_ratio_1e5_vs_1e4"] = round(b / a, 3)

    # Each worker starts TensorFlow (about 7 s on this machine) before its first
    # image: on 20,000 images that start is a third of a 1-worker run. The same
    # 10^5 paths on 1 worker give the speed-up once the start is amortised.
    if wanted("speed") and "memory_100000" in results:
        if "speed_100000_1_worker" not in results:
            out = beam_cli(
                work / "paths-100000.csv", work / "speed-1", 1, args.shard_size
            )
            out["images_per_s"] = round(100_000 / out["seconds"], 1)
            results["speed_100000_1_worker"] = out
            save()
        results["speed_up_2_vs_1_workers_100000"] = round(
            results["memory_100000"]["images_per_s"]
            / results["speed_100000_1_worker"]["images_per_s"],
            2,
        )
    save()
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
