"""Issue 22 part 3: which route runs the InceptionV3 feature pass fastest on one CPU core.

The iNaturalist-shaped stand-in (InceptionV3, no top, average pooling, 2,048
features, 299 px; random weights: the compute does not depend on their values)
through each route, side by side in one process, interleaved round by round so
that a change in the machine's load hits every route alike (the median round
counts):

* ``today``: what :func:`alwidgets.features.extract_features` runs — a
  ``tf.function`` with a fixed input signature;
* ``xla``: the same with ``jit_compile=True``;
* ``bfloat16``: the model rebuilt under Keras' ``mixed_bfloat16`` policy (the
  CPU's AVX-512 BF16 instructions, when it has them), same weights;
* ``onnxruntime``: the model converted by ``tf2onnx`` and run by ONNX Runtime
  (only if both import; ``pip install tf2onnx onnxruntime``).

A route is adopted only if its features match today's to 1e-4 relative
(``max |a - b| <= 1e-4 * max |a|``) and it is at least 1.3 times faster.

Usage (one core, TensorFlow's and ONNX Runtime's thread pools at one thread)::

    taskset -c 0 python tools/benchmark_embedding.py --images 32 --batch 16 --rounds 3

Prints one JSON object: per route images/s (median round), the speed-up over
today, the relative difference of its features, and the verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

RTOL = 1e-4
SPEED_UP = 1.3


def _cpu_flags() -> set[str]:
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return set()
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def build_routes(batch: int) -> dict:
    """Route name -> a function from a float32 batch to float32 features."""
    import keras
    import tensorflow as tf

    from alwidgets.backbones import get_backbone

    model = get_backbone("inaturalist_inception_v3", pretrained=False)
    spec = tf.TensorSpec([None, 299, 299, 3], tf.float32)
    today = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    xla = tf.function(
        lambda x: model(x, training=False), input_signature=[spec], jit_compile=True
    )
    routes = {
        "today": lambda x: today(x).numpy(),
        "xla": lambda x: xla(x).numpy(),
    }

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        bf16_model = get_backbone("inaturalist_inception_v3", pretrained=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    bf16_model.set_weights(model.get_weights())
    bf16 = tf.function(lambda x: bf16_model(x, training=False), input_signature=[spec])
    routes["bfloat16"] = lambda x: np.asarray(bf16(x).numpy(), dtype=np.float32)

    try:
        import onnxruntime
        import tf2onnx
    except ImportError as exc:
        routes["onnxruntime"] = f"not installed: {exc}"
    else:
        proto, _ = tf2onnx.convert.from_function(
            today, input_signature=[spec], opset=17
        )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        name = session.get_inputs()[0].name
        routes["onnxruntime"] = lambda x: session.run(None, {name: x})[0]
    return routes


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    images = np.random.default_rng(0).random((args.images, 299, 299, 3), np.float32)
    batches = [images[i : i + args.batch] for i in range(0, args.images, args.batch)]
    started = time.perf_counter()
    routes = build_routes(args.batch)
    build_s = time.perf_counter() - started
    runnable = {k: f for k, f in routes.items() if callable(f)}
    warm = {}
    for name, run in runnable.items():  # warm-up: tracing, XLA compile, first call
        t = time.perf_counter()
        run(batches[0])
        warm[name] = round(time.perf_counter() - t, 1)
    times = {name: [] for name in runnable}
    outputs = {}
    for _ in range(args.rounds):
        for name, run in runnable.items():
            t = time.perf_counter()
            outputs[name] = np.concatenate([run(b) for b in batches])
            times[name].append(time.perf_counter() - t)
    reference = outputs["today"]
    scale = float(np.abs(reference).max())
    today_rate = args.images / statistics.median(times["today"])
    table = {}
    for name in runnable:
        rate = args.images / statistics.median(times[name])
        rel = float(np.abs(outputs[name] - reference).max()) / scale
        table[name] = {
            "images_per_s": round(rate, 2),
            "speed_up": round(rate / today_rate, 2),
            "max_rel_diff": float(f"{rel:.2e}"),
            "matches_1e-4": rel <= RTOL,
            "first_call_s": warm[name],
        }
    for name, why in routes.items():
        if not callable(why):
            table[name] = {"skipped": why}
    eligible = [
        n
        for n, row in table.items()
        if n != "today" and row.get("matches_1e-4") and row["speed_up"] >= SPEED_UP
    ]
    choice = max(eligible, key=lambda n: table[n]["speed_up"]) if eligible else "today"
    flags = _cpu_flags()
    result = {
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores visible, affinity {sorted(os.sched_getaffinity(0))}",
        "cpu_has_avx512_bf16": "avx512_bf16" in flags,
        "cpu_has_amx_bf16": "amx_bf16" in flags,
        "tensorflow": tf.__version__,
        "images": args.images,
        "batch": args.batch,
        "rounds": args.rounds,
        "build_s": round(build_s, 1),
        "routes": table,
        "choice": choice,
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
