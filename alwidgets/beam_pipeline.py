"""The embedding and the selection as an Apache Beam pipeline (``pip install alwidgets[scale]``).

The same steps as :func:`alwidgets.embed.embed`, on any Beam runner::

    shards to do ─ Reshuffle ─ rows of paths.csv ─ decode and resize ─┬─ RunInference ─┬─ shards
                               (the match)         (load_image)       └─ bad files ────┘   │
                                                   features ─ score ─ Top.Of(budget) ─ selection.json

* **the match**: the driver lists the images once (:func:`~alwidgets.images_in.find_images`)
  into the output folder's ``paths.csv``, so an image has the same id on every
  runner and in the in-process path; the shard numbers still to do are spread over
  the workers, and each worker reads its shards' rows of that file;
* **decode and resize**: :func:`~alwidgets.images_in.load_image`, the same
  function as in-process, through Beam's ``FileSystems`` (local paths, ``gs://``...);
* **RunInference** with :class:`BackboneModelHandler`, whose ``load_model``
  builds the backbone with :func:`alwidgets.backbones.get_backbone` once per
  worker: Beam's own TensorFlow handler loads with ``tf.keras.models.load_model``,
  which Keras 3 refuses for a TF-Hub SavedModel (apache/beam#30616);
* **shards** keyed by ``id // shard_size`` and written by
  :func:`alwidgets.embed.write_shard`: the same files as in-process, read with
  :func:`alwidgets.embed.read_features`. Shards already complete are skipped (resume);
* **Top**: ``beam.combiners.Top.Of(budget)`` over the scores of the current head
  (:mod:`alwidgets.criteria`), ties to the lower id, as :func:`alwidgets.criteria.select`.

Locally::

    python -m alwidgets.beam_pipeline IMAGES OUT --backbone tiny_offline \\
        --runner=DirectRunner --direct_running_mode=multi_processing --direct_num_workers=2

Elsewhere, by pipeline options only, e.g. Dataflow (OUT on a file system every
worker sees; the package shipped with ``--setup_file`` or ``--requirements_file``)::

    python -m alwidgets.beam_pipeline gs://bucket/images.csv /shared/out \\
        --runner=DataflowRunner --project=P --region=europe-west1 \\
        --temp_location=gs://bucket/tmp --requirements_file=requirements.txt

(Flink: ``--runner=FlinkRunner --flink_master=host:8081``; Spark:
``--runner=SparkRunner --spark_master_url=spark://host:7077``.)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np


class _Quiet(logging.Filter):
    """Beam's own notes (its workers' start-up, optional clients it lacks), not ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apache_beam" not in record.pathname and "apitools" not in str(
            record.msg
        )


@contextlib.contextmanager
def _quiet_beam():
    """Only Beam's errors reach the notebook while a pipeline runs."""
    beam_logger = logging.getLogger("apache_beam")
    level = beam_logger.level
    beam_logger.setLevel(logging.ERROR)
    root = logging.getLogger()
    root.addFilter(_quiet)
    try:
        yield
    finally:
        beam_logger.setLevel(level)
        root.removeFilter(_quiet)


_quiet = _Quiet()
logging.getLogger().addFilter(_quiet)
try:
    import apache_beam as beam
finally:
    logging.getLogger().removeFilter(_quiet)
# ruff: noqa: E402 (apache_beam first, with its import warning filtered)
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)
from apache_beam.options.pipeline_options import PipelineOptions

from . import checks
from .embed import read_arrays, read_features, shard_name, shards_done, write_shard
from .images_in import ImageList, find_images, load_image

__all__ = [
    "BackboneModelHandler",
    "build_pipeline",
    "run",
    "select",
    "local_options",
    "SELECTION",
]

#: The file the Top step writes into the output folder.
SELECTION = "selection.json"
#: Where workers put partial shards before they are merged (emptied at the end).
PARTS = "parts"


class BackboneModelHandler(ModelHandler[np.ndarray, PredictionResult, Any]):
    """RunInference's handler for an ``alwidgets`` backbone: uint8 images in, features out.

    ``load_model`` builds the backbone by name (our loading: Keras applications,
    the offline CNN, or a TF-Hub SavedModel adopted by
    :class:`~alwidgets.backbones.HubBackbone`), once per worker process, and
    compiles the forward pass like the in-process path. ``threads`` caps
    TensorFlow's thread pools in each worker (one per worker on a machine
    running as many workers as cores).
    """

    def __init__(self, backbone: str, batch_size: int = 64, threads: int | None = 1):
        super().__init__()
        if not isinstance(backbone, str):
            raise TypeError(f"backbone must be a name, got {type(backbone).__name__}")
        self.backbone = backbone
        self.batch_size = checks.integer("batch_size", batch_size, 1)
        self.threads = (
            None if threads is None else checks.integer("threads", threads, 1)
        )

    def load_model(self):
        import tensorflow as tf

        from .backbones import BACKBONES, get_backbone

        if self.threads is not None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(self.threads)
                tf.config.threading.set_inter_op_parallelism_threads(self.threads)
            except RuntimeError:  # TensorFlow already started in this process
                pass
        size = BACKBONES[self.backbone].image_size
        model = get_backbone(self.backbone)
        spec = tf.TensorSpec([None, size, size, 3], tf.uint8)
        return tf.function(
            lambda x: model(tf.cast(x, tf.float32) / 255.0, training=False),
            input_signature=[spec],
        )

    def run_inference(self, batch, model, inference_args=None):
        out = model(np.stack(batch)).numpy().astype(np.float32)
        # The images are not kept in the results: the features are all we need.
        return [PredictionResult(None, row) for row in out]

    def get_num_bytes(self, batch) -> int:
        return sum(a.nbytes for a in batch)

    def batch_elements_kwargs(self) -> dict:
        return {"min_batch_size": 1, "max_batch_size": self.batch_size}


class _Decode(beam.DoFn):
    """``(id, path)`` -> ``(id, uint8 image)``, or ``(id, reason)`` on the ``bad`` output."""

    def __init__(self, size: int):
        self.size = size

    def process(self, element):
        i, path = element
        array, reason = load_image(path, self.size, opener=FileSystems.open)
        if reason is None:
            yield i, array
        else:
            yield beam.pvalue.TaggedOutput("bad", (i, reason))


def _shard_rows_of(folder: str, shard_size: int):
    """``shard -> (id, path)`` for the rows of ``paths.csv`` in that shard."""

    def rows(shard: int):
        with FileSystems.open(os.path.join(folder, "paths.csv")) as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            next(reader)  # the header
            start = shard * shard_size
            for row in itertools.islice(reader, start, start + shard_size):
                yield int(row[0]), row[1]

    return rows


class _WriteParts(beam.DoFn):
    """Buffer records by shard; write them as part files, a shard's worth at most.

    Only the part files' names go through the shuffle, never the features: the
    runner (on the DirectRunner, the driver) holds file names, and a worker at
    most ``limit`` records.
    """

    def __init__(self, folder: str, shard_size: int):
        self.folder, self.shard_size = folder, shard_size

    def start_bundle(self):
        self.buffer: dict[int, list] = {}
        self.count = 0

    def process(self, record):
        kind, i, value = record
        self.buffer.setdefault(i // self.shard_size, []).append((kind, i, value))
        self.count += 1
        if self.count >= 2 * self.shard_size:
            yield from self._flush()

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue

        for keyed in self._flush():
            yield WindowedValue(keyed, -1, [GlobalWindow()])

    def _flush(self):
        import uuid

        from .embed import write_arrays

        parts = Path(self.folder) / PARTS
        for shard, records in self.buffer.items():
            good = [(i, v) for kind, i, v in records if kind == "f"]
            bad = [(i, v) for kind, i, v in records if kind == "b"]
            path = parts / f"{shard:05d}-{uuid.uuid4().hex}.npz"
            write_arrays(
                path,
                [i for i, _ in good],
                np.stack([v for _, v in good]) if good else np.zeros((0, 0)),
                [i for i, _ in bad],
                [v for _, v in bad],
            )
            yield shard, str(path)
        self.buffer, self.count = {}, 0


def _merge(folder: str):
    def merge(keyed):
        """Join a shard's part files into the shard file, then delete them."""
        from .embed import read_arrays

        shard, paths = keyed
        paths = sorted(paths)
        parts = [read_arrays(p) for p in paths]
        if any(part is None for part in parts):
            raise OSError(f"a part file of shard {shard} cannot be read")
        rows = [part for part in parts if len(part["features"])]
        write_shard(
            folder,
            shard,
            np.concatenate([part["ids"] for part in parts]),
            np.concatenate([part["features"] for part in rows])
            if rows
            else np.zeros((0, 0)),
            np.concatenate([part["bad_ids"] for part in parts]),
            np.concatenate([part["bad_reasons"] for part in parts]).tolist(),
        )
        for p in paths:
            Path(p).unlink(missing_ok=True)
        return shard

    return merge


def _shard_rows(readable):
    """``(id, features)`` rows of one shard file (a ``fileio`` readable file)."""
    import io

    with np.load(io.BytesIO(readable.read()), allow_pickle=False) as z:
        yield from zip(z["ids"].tolist(), z["features"])


def _scorer(head, criterion: str, exclude: frozenset):
    from .criteria import CRITERIA

    score = CRITERIA[criterion]

    def rows(keyed):
        i, features = keyed
        if i not in exclude:
            # Top.Of keeps the largest: highest score first, then the lowest id.
            yield float(score(head.predict_proba(features[None, :]))[0]), -i

    return rows


def build_pipeline(
    p: beam.Pipeline,
    folder: str,
    index: dict,
    done: set[int],
    batch_size: int = 64,
    threads: int | None = 1,
):
    """Add the embedding steps to pipeline ``p`` for an output folder prepared by
    :func:`alwidgets.embed.prepare_folder`; ``done``: shards to skip."""
    size, shard_size = index["image_size"], index["shard_size"]
    n_shards = -(-index["n_images"] // shard_size)
    todo = (
        p
        | "shards to do" >> beam.Create([k for k in range(n_shards) if k not in done])
        # Spread the shards over the workers; only shard numbers go through the
        # runner, never paths or images (the driver's memory stays flat).
        | "spread over workers" >> beam.Reshuffle()
        | "match (rows of paths.csv)"
        >> beam.FlatMap(_shard_rows_of(folder, shard_size))
    )
    decoded = todo | "decode and resize" >> beam.ParDo(_Decode(size)).with_outputs(
        "bad", main="good"
    )
    handler = KeyedModelHandler(
        BackboneModelHandler(index["backbone"], batch_size, threads)
    )
    features = (
        decoded.good
        | "RunInference" >> RunInference(handler)
        | "features" >> beam.MapTuple(lambda i, result: (i, result.inference))
    )
    # Each branch writes its own part files: a Flatten before them would make the
    # DirectRunner hold every feature in the driver; only part names meet here.
    good_parts = (
        features
        | "good" >> beam.MapTuple(lambda i, f: ("f", i, f))
        | "write good parts" >> beam.ParDo(_WriteParts(folder, shard_size))
    )
    bad_parts = (
        decoded.bad
        | "bad" >> beam.MapTuple(lambda i, r: ("b", i, r))
        | "write bad parts" >> beam.ParDo(_WriteParts(folder, shard_size))
    )
    (
        (good_parts, bad_parts)
        | "part names" >> beam.Flatten()
        | "parts by shard" >> beam.GroupByKey()
        | "merge into shards" >> beam.Map(_merge(folder))
    )
    return p


def local_options(workers: int = 2, mode: str = "multi_processing") -> list[str]:
    """Pipeline arguments for the DirectRunner with ``workers`` processes (or threads).

    ``mode``: ``"multi_processing"`` (one Python process per worker: the
    machine's cores in parallel, each worker loads the backbone once, a few
    seconds to start) or ``"multi_threading"`` (threads of this process: starts
    at once, shares the loaded TensorFlow).
    """
    workers = checks.integer("workers", workers, 1)
    checks.choice("mode", mode, ("multi_processing", "multi_threading", "in_memory"))
    return [
        "--runner=DirectRunner",
        f"--direct_running_mode={mode}",
        f"--direct_num_workers={workers}",
        "--default_sdk_harness_log_level=ERROR",
    ]


def run(
    source,
    folder: str | os.PathLike,
    backbone: str | None = None,
    batch_size: int = 64,
    shard_size: int = 1024,
    pipeline_args: list[str] | None = None,
    threads: int | None = 1,
    load: bool = True,
) -> dict:
    """Embed ``source`` into ``folder`` on Beam (resuming a started folder).

    ``pipeline_args``: Beam's options (default: :func:`local_options`, 2
    workers). Returns ``{"features": Features, "seconds": the pipeline's wall
    time, "embedded": files this run read (bad ones included)}``; with
    ``load=False`` ``features`` is None and nothing is read back (a driver's
    memory then does not grow with the number of images).
    """
    from .backbones import BACKBONES, default_backbone
    from .embed import index_for, prepare_folder

    images = source if isinstance(source, ImageList) else find_images(source)
    backbone = default_backbone() if backbone is None else backbone
    checks.choice("backbone", backbone, list(BACKBONES))
    shard_size = checks.integer("shard_size", shard_size, 1)
    pipeline_args = _check_args(pipeline_args)
    index = index_for(images, backbone, shard_size)
    prepare_folder(folder, images, index)
    done = set(shards_done(folder))
    shutil.rmtree(Path(folder) / PARTS, ignore_errors=True)  # a killed run's parts
    n_shards = -(-len(images) // shard_size)
    embedded = len(images) - sum(
        min(shard_size, len(images) - k * shard_size) for k in done
    )
    started = time.perf_counter()
    if len(done) < n_shards:
        with _quiet_beam(), beam.Pipeline(options=PipelineOptions(pipeline_args)) as p:
            build_pipeline(p, str(folder), index, done, batch_size, threads)
        shutil.rmtree(Path(folder) / PARTS, ignore_errors=True)  # all merged
    seconds = time.perf_counter() - started
    features = read_features(folder) if load else None
    return {"features": features, "seconds": seconds, "embedded": embedded}


def _check_args(pipeline_args) -> list[str]:
    if pipeline_args is None:
        return local_options(2)
    if isinstance(pipeline_args, str) or not isinstance(pipeline_args, list):
        raise TypeError(
            "pipeline_args must be a list of strings, e.g. ['--runner=DirectRunner']"
        )
    return pipeline_args


def select(
    folder: str | os.PathLike,
    head,
    budget: int,
    criterion: str = "least_confidence",
    exclude=(),
    pipeline_args: list[str] | None = None,
) -> list[int]:
    """The ids of the ``budget`` most uncertain images under ``head``, on Beam.

    Matches the folder's shard files (``fileio.MatchFiles``), scores every
    feature row with ``criterion`` and keeps the top ``budget`` with
    ``beam.combiners.Top.Of`` (highest score first, ties to the lower id, as
    :func:`alwidgets.criteria.select`). ``exclude``: ids already labelled.
    Also written to ``folder/selection.json``.
    """
    from apache_beam.io import fileio

    from .criteria import CRITERIA
    from .heads import Head

    if not isinstance(head, Head):
        raise TypeError(f"head must be an alwidgets.heads.Head, got {type(head)}")
    checks.choice("criterion", criterion, list(CRITERIA))
    budget = checks.integer("budget", budget, 1)
    pipeline_args = _check_args(pipeline_args)
    exclude = frozenset(int(i) for i in exclude)
    done = shards_done(folder)  # refuses a folder without index; one shard at a time
    index = json.loads((Path(folder) / "index.json").read_text())
    if len(done) < -(-index["n_images"] // index["shard_size"]):
        read_features(folder)  # raises: says how many shards are missing
    unlabelled = 0
    for k in done:
        ids = read_arrays(Path(folder) / shard_name(k))["ids"]
        unlabelled += len(ids) - len(exclude.intersection(ids.tolist()))
    if budget > unlabelled:
        raise ValueError(
            f"budget ({budget}) is more than the {unlabelled} unlabelled images"
        )
    out = Path(folder) / SELECTION
    out.unlink(missing_ok=True)

    def save(top):
        ids = [-negative for _, negative in top]
        out.write_text(json.dumps({"criterion": criterion, "ids": ids}))

    with _quiet_beam(), beam.Pipeline(options=PipelineOptions(pipeline_args)) as p:
        (
            p
            | "match shards"
            >> fileio.MatchFiles(os.path.join(str(folder), "shard-*.npz"))
            | "read" >> fileio.ReadMatches()
            | "rows" >> beam.FlatMap(_shard_rows)
            | "score" >> beam.FlatMap(_scorer(head, criterion, exclude))
            | "Top" >> beam.combiners.Top.Of(budget)
            | "save" >> beam.Map(save)
        )
    return json.loads(out.read_text())["ids"]


def _load_head(path: str):
    from .heads import Head

    with np.load(path) as a:
        return Head(
            a["mean"],
            a["scale"],
            a["weights"],
            a["bias"],
            float(a["temperature"]),
            float(a["l2"]),
            {},
            {},
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Embed a folder (or CSV) of images on Apache Beam; other --options go to Beam."
    )
    parser.add_argument("source", help="a folder of images, a CSV with a 'path' column")
    parser.add_argument("out", help="the output folder (shards, index, selection)")
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--shard_size", type=int, default=1024)
    parser.add_argument(
        "--threads", type=int, default=1, help="TensorFlow threads per worker"
    )
    parser.add_argument(
        "--head", default=None, help="a head saved with np.savez(**head.arrays())"
    )
    parser.add_argument("--budget", type=int, default=0)
    parser.add_argument("--criterion", default="least_confidence")
    import resource

    args, beam_args = parser.parse_known_args(argv)
    beam_args = beam_args or local_options(2)
    result = run(
        args.source,
        args.out,
        args.backbone,
        args.batch_size,
        args.shard_size,
        beam_args,
        args.threads,
        load=False,
    )
    selection = None
    if args.head:
        selection = select(
            args.out,
            _load_head(args.head),
            args.budget,
            args.criterion,
            pipeline_args=beam_args,
        )
    good = bad = 0
    for k in shards_done(args.out):  # one shard in memory at a time
        arrays = read_arrays(Path(args.out) / shard_name(k))
        good, bad = good + len(arrays["ids"]), bad + len(arrays["bad_ids"])
    print(
        json.dumps(
            {
                "images": good + bad,
                "embedded": good,
                "bad": bad,
                "seconds": round(result["seconds"], 2),
                "selection": selection,
                # this process only (the workers are other processes), in MiB
                "driver_peak_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
