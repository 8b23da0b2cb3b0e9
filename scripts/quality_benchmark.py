"""Quality benchmark: each recipe on every dataset and seed, with the label-free score beside accuracy.

A recipe is a name and a set of settings (paths of ``RunConfig.from_settings``) laid over a dataset's
defaults: ``--recipe NAME`` alone is the dataset's defaults (what ``jvae-tf train`` does with no flags),
``--recipe "NAME: path=value path=value"`` changes some. A dataset is ``NAME`` or ``NAME:DATA_DIR``:
``four_shapes`` (procedural: development), ``four_shapes:data/heldout_shapes`` (held out),
``npz:data/digits/dev.npz``, ``npz:data/digits/heldout.npz``, ``image_folder:data/sklearn_digits`` (the folders
that ``scripts/heldout_shapes.py``, ``scripts/heldout_digits.py`` and ``scripts/dev_shapes.py`` write).
``--set path=value`` applies to every recipe (after it), e.g. a shorter run for a smoke test.

Each run trains on the dataset's train split, then reports on its test split: cluster accuracy of the first
discrete variable (``metrics.cluster_accuracy``, mapping "auto"), NMI, classes with a category of their
own; the label-free score (``jointvae_tf.evaluation.selection``) on up to 1,000 validation images (no labels used),
read without normalisation and normalised by the score as the recipe's pipeline would (procedural
four_shapes: rendered at the model's size, where training renders at twice the size before normalising);
training wall time and steps; the held-out accuracy after each epoch against wall seconds (``curve``).
Every run appends one JSON line to ``--results``, so several invocations accumulate; the report (after
the runs, or alone with ``--report-only``) keeps the latest row of each (recipe, dataset, seed) and prints
the rows, mean and worst seed per recipe and dataset, and the Spearman rank correlation of the label-free
score (and of each part) with test accuracy over all runs and within each dataset. ``--rescore``
evaluates the kept run folders of the rows again (after a change to the score) and appends the new rows.

    python scripts/quality_benchmark.py --recipe defaults --data four_shapes:data/heldout_shapes --seeds 0 1 2
    python scripts/quality_benchmark.py --recipe defaults --recipe "capped: model.cont_capacity=0,2,6000" \\
        --data npz:data/digits/dev.npz --seeds 0 1 --results quality.jsonl
    python scripts/quality_benchmark.py --results quality.jsonl --report-only
    python scripts/quality_benchmark.py --results quality.jsonl --rescore
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from jointvae_tf import data
from jointvae_tf.core.config import CapacitySchedule  # noqa: E402
from jointvae_tf.data import pixels
from jointvae_tf.errors import JointVAEError, RunFailure  # noqa: E402
from jointvae_tf.evaluation import metrics, selection
from jointvae_tf.evaluation.inference import encode_dataset  # noqa: E402
from jointvae_tf.run_folders.folder import RunFolder, open_run  # noqa: E402
from jointvae_tf.training.presets import build_run_config  # noqa: E402
from jointvae_tf.training.trainer import train  # noqa: E402

SCORE_PARTS = ("score", "agreement", "balance", "elbo")


def parse_override(text: str) -> tuple[str, object]:
    """``path=value`` -> (path, value): capacity schedules and category counts from their flag syntax,
    numbers and booleans from their text, anything else as a string."""
    if "=" not in text:
        raise SystemExit(f"setting {text!r}: expected path=value, e.g. train.epochs=10")
    key, value = text.split("=", 1)
    if key.endswith("_capacity"):
        return key, CapacitySchedule.parse(value)
    if key.endswith(".disc"):
        return key, tuple(int(k) for k in value.split(","))
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, {"true": True, "false": False, "none": None}.get(value.lower(), value)


def parse_recipe(text: str) -> tuple[str, list[str]]:
    """``"NAME: path=value ..."`` (or ``NAME``) -> (name, the ``path=value`` texts)."""
    name, _, settings = text.partition(":")
    if not name.strip():
        raise SystemExit(f"--recipe {text!r}: expected NAME or 'NAME: path=value ...'")
    return name.strip(), settings.split()


def parse_dataset(text: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME:DATA_DIR`` -> (name, data_dir or None)."""
    name, _, data_dir = text.partition(":")
    return name, data_dir or None


def run_config(dataset: str, recipe: list[str], common: list[str], seed: int):
    name, data_dir = parse_dataset(dataset)
    settings = {"data.data_dir": data_dir, "train.seed": seed}
    settings.update(parse_override(o) for o in recipe + common)
    return build_run_config(name, settings)


def scaled(examples) -> np.ndarray:
    return pixels.to_unit_range(examples.images)


def evaluate_run(run_dir: str) -> dict:
    """Test-split accuracy, NMI and classes with their own category; the label-free score on validation
    images; the seconds the score took; with restarts, the candidates' scores (``restarts.json``)."""
    loaded = open_run(run_dir)
    run, model = loaded.config, loaded.model
    size, channels, seed = run.model.image_size, run.model.channels, run.train.seed
    test = data.load_examples(run.data, "test", size, channels, seed=seed)
    clusters = encode_dataset(model, scaled(test)).categories[:, 0]
    k = run.model.latent.disc[0]
    start = time.perf_counter()
    unlabeled = selection.unlabeled_validation(run)
    score = selection.selection_score(model, unlabeled, seed=seed, normalize=run.data.normalize)
    restarts = {}
    if os.path.exists(RunFolder(run_dir).restarts):
        with open(RunFolder(run_dir).restarts) as f:
            restarts = {"restarts": json.load(f)}
    return {**restarts, "test_accuracy": metrics.cluster_accuracy(test.labels, clusters, n_clusters=k),
            "test_nmi": metrics.normalized_mutual_info(test.labels, clusters),
            "classes_with_own_category": metrics.classes_with_own_category(test.labels, clusters),
            "test_examples": len(test.labels), **score.to_dict(),
            "score_seconds": round(time.perf_counter() - start, 1)}


class AccuracyCurve(keras.callbacks.Callback):
    """Held-out accuracy against wall seconds since training began, after each epoch the held-out
    evaluation scored (it runs within 5 % of the wall time, so not after every epoch); prints each point."""

    def __init__(self, label: str):
        super().__init__()
        self.label, self.points, self.start = label, [], time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if "val_cluster_accuracy" not in (logs or {}):
            return
        accuracy = logs["val_cluster_accuracy"]
        self.points.append([round(time.perf_counter() - self.start, 1), round(float(accuracy), 4)])
        print(f"{self.label} epoch {epoch + 1}: {self.points[-1][0]:.0f} s, held-out accuracy {accuracy:.3f}",
              flush=True)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__)), check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def benchmark(args) -> None:
    root = args.out or tempfile.mkdtemp(prefix="jvae-quality-")
    os.makedirs(root, exist_ok=True)
    done = {row_key(r) for r in read_rows(args.results)} if args.skip_done else set()
    for recipe_text in args.recipe:
        recipe, settings = parse_recipe(recipe_text)
        for dataset in args.data:
            for seed in args.seeds:
                key = (recipe, dataset, seed)
                if key in done:
                    print(f"{recipe} on {dataset}, seed {seed}: in {args.results} already, skipped")
                    continue
                run = run_config(dataset, settings, args.overrides, seed)
                run_dir = tempfile.mkdtemp(prefix=f"{recipe}-{parse_dataset(dataset)[0]}-s{seed}-", dir=root)
                curve = AccuracyCurve(f"{recipe} on {dataset}, seed {seed}")
                row = {"recipe": recipe, "dataset": dataset, "seed": seed, "settings": settings + args.overrides,
                       "run_dir": run_dir}
                start = time.perf_counter()
                try:
                    result = train(run, run_dir, verbose=0, extra_callbacks=[curve])
                except RunFailure as e:  # a diverged run is a result: recorded, and the sweep goes on
                    append_row(args.results, {**row, "failed": str(e), "curve": curve.points})
                    continue
                append_row(args.results, {**row, "train_seconds": round(time.perf_counter() - start, 1),
                                          "steps": result.step, **evaluate_run(run_dir), "curve": curve.points})


def rescore(path: str) -> None:
    """Evaluate the run folder of each row of ``path`` again and append the updated rows."""
    for row in read_rows(path):
        if "failed" in row:
            continue
        if not os.path.isdir(row["run_dir"]):
            print(f"{row['recipe']} on {row['dataset']}, seed {row['seed']}: {row['run_dir']} is gone, kept as it was")
            continue
        append_row(path, {**row, **evaluate_run(row["run_dir"])})


def append_row(path: str, row: dict) -> None:
    """Stamp ``row`` with the commit and time, append it to the JSON-lines file ``path`` and print it."""
    row = {**row, "commit": git_commit(), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)


def row_key(row: dict) -> tuple:
    return row["recipe"], row["dataset"], row["seed"]


def read_rows(path: str) -> list[dict]:
    """The latest row of each (recipe, dataset, seed) in the JSON-lines file ``path`` (none if absent)."""
    if not os.path.exists(path):
        return []
    latest = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{number}: not a JSON line ({e})") from None
                latest[row_key(row)] = row
    return list(latest.values())


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of ``values``, ties sharing their mean rank."""
    order = np.empty(len(values))
    order[np.argsort(values, kind="stable")] = np.arange(len(values))
    _, group = np.unique(values, return_inverse=True)
    return (np.bincount(group, order) / np.bincount(group))[group]


def spearman(a, b) -> float:
    """Spearman's rank correlation of two equal-length sequences (nan below 3 values or when one is constant)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; floats with 3 decimals."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def report(rows: list[dict]) -> str:
    """The Markdown tables of the latest rows: runs, mean and worst seed per recipe and dataset (failed runs
    counted apart, never averaged in), and the rank correlations of the score with accuracy."""
    failures = [f"- {r['recipe']} on {r['dataset']}, seed {r['seed']}: {r['failed']}" for r in rows if "failed" in r]
    finished = sorted((r for r in rows if "failed" not in r), key=lambda r: (r["dataset"], r["recipe"], r["seed"]))
    if not finished:
        return "\n".join(["no finished runs recorded yet", *failures])
    runs = table(["recipe", "dataset", "seed", "test accuracy", "NMI", "own cat.", *SCORE_PARTS, "train min", "steps"],
                 [[r["recipe"], r["dataset"], r["seed"], r["test_accuracy"], r["test_nmi"],
                   r["classes_with_own_category"], *(r[p] for p in SCORE_PARTS), r["train_seconds"] / 60, r["steps"]]
                  for r in finished])
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in finished:
        groups.setdefault((r["recipe"], r["dataset"]), []).append(r)
    failed = {key: sum(1 for r in rows if "failed" in r and (r["recipe"], r["dataset"]) == key) for key in groups}
    summary = table(["recipe", "dataset", "seeds", "failed", "mean accuracy", "worst accuracy", "mean NMI",
                     "mean score", "mean train min"],
                    [[recipe, dataset, len(g), failed[recipe, dataset], float(np.mean([r["test_accuracy"] for r in g])),
                      float(min(r["test_accuracy"] for r in g)), float(np.mean([r["test_nmi"] for r in g])),
                      float(np.mean([r["score"] for r in g])), float(np.mean([r["train_seconds"] for r in g]) / 60)]
                     for (recipe, dataset), g in groups.items()])
    datasets = sorted({r["dataset"] for r in finished})
    scopes = {"all runs": finished, **{d: [r for r in finished if r["dataset"] == d] for d in datasets}}
    correlation = table(["runs", "n", *(f"rho({p}, accuracy)" for p in SCORE_PARTS)],
                        [[scope, len(rs), *(spearman([r[p] for r in rs], [r["test_accuracy"] for r in rs])
                                             for p in SCORE_PARTS)] for scope, rs in scopes.items()])
    failed_runs = "\n\n## Failed runs\n\n" + "\n".join(failures) if failures else ""
    return (f"## Runs\n\n{runs}\n\n## Per recipe and dataset (worst = lowest seed)\n\n{summary}\n\n"
            f"## Spearman rank correlation with test accuracy\n\n{correlation}{failed_runs}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", action="append", default=[],
                        help="NAME or 'NAME: path=value ...' (repeatable; default: 'defaults')")
    parser.add_argument("--data", action="append", default=[],
                        help="NAME or NAME:DATA_DIR (repeatable; default: four_shapes, procedural)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="path=value applied to every recipe (repeatable)")
    parser.add_argument("--results", default="quality_results.jsonl", help="JSON-lines file the rows go to")
    parser.add_argument("--out", default=None, help="keep run folders here (default: a temporary folder)")
    parser.add_argument("--skip-done", action="store_true",
                        help="skip (recipe, dataset, seed) runs already in --results")
    parser.add_argument("--report-only", action="store_true", help="print the tables of --results and stop")
    parser.add_argument("--rescore", action="store_true",
                        help="evaluate the run folders of --results again (no training), then report")
    args = parser.parse_args()
    try:
        if args.rescore:
            rescore(args.results)
        elif not args.report_only:
            args.recipe, args.data = args.recipe or ["defaults"], args.data or ["four_shapes"]
            benchmark(args)
    except JointVAEError as e:
        raise SystemExit(f"error: {e}") from None
    print(report(read_rows(args.results)))


if __name__ == "__main__":
    main()
