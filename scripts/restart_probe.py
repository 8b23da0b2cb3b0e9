"""How early does the label-free score tell a good start from a bad one? The measurement behind the
defaults of ``--restarts`` and ``--restart-steps`` (docs/quality.md, "Restarts").

Trains one run of a dataset's defaults (restarts off: the probe is one candidate followed to the end) and,
every 250 steps up to 4k and every 1k after, records the label-free score
(:func:`jointvae_tf.evaluation.selection.selection_score` on up to 1,000 unlabeled validation images, as a restart
scores a candidate) and the test accuracy, one JSON line each. ``--report`` reads such lines for several
seeds and prints, for each candidate length K and count N, what choosing by the score at step K among
every group of N seeds would keep: the mean and worst final accuracy, against one seed's.

    python scripts/restart_probe.py --data npz:/work/data/digits/dev.npz --seeds 0 1 2 3 4 5 --results probe.jsonl
    python scripts/restart_probe.py --results probe.jsonl --report
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import sys
import tempfile
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality_benchmark import run_config, spearman  # noqa: E402

from jointvae_tf import data
from jointvae_tf.data import pixels
from jointvae_tf.evaluation import metrics, selection
from jointvae_tf.evaluation.inference import encode_dataset  # noqa: E402
from jointvae_tf.training.trainer import train  # noqa: E402


class ScoreCurve(keras.callbacks.Callback):
    """Appends ``{"step", "seconds", "accuracy", "score", "agreement", "balance", "elbo"}`` rows to ``path``
    every 250 steps up to 4k, every 1k after (the first batch end at or past each)."""

    def __init__(self, run, row: dict, path: str):
        super().__init__()
        size, channels, seed = run.model.image_size, run.model.channels, run.train.seed
        self.run, self.row, self.path = run, row, path
        self.unlabeled = selection.unlabeled_validation(run)
        self.test = data.load_examples(run.data, "test", size, channels, seed=seed)
        self.next_step, self.start = 250, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step < self.next_step:
            return
        self.next_step = step + (250 if step < 4000 else 1000) - step % 250
        seconds = round(time.perf_counter() - self.start, 1)
        score = selection.selection_score(self.model, self.unlabeled, seed=self.run.train.seed,
                                          normalize=self.run.data.normalize)
        clusters = encode_dataset(self.model, pixels.to_unit_range(self.test.images)).categories[:, 0]
        accuracy = metrics.cluster_accuracy(self.test.labels, clusters, n_clusters=self.run.model.latent.disc[0])
        row = {**self.row, "step": step, "seconds": seconds, "accuracy": round(accuracy, 4), **score.to_dict()}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def probe(args) -> None:
    for dataset in args.data:
        for seed in args.seeds:
            run = run_config(dataset, [], ["train.restarts=1"], seed)
            row = {"dataset": dataset, "seed": seed}
            train(run, tempfile.mkdtemp(prefix=f"probe-s{seed}-"), verbose=0,
                  extra_callbacks=[ScoreCurve(run, row, args.results)])


def report(path: str) -> None:
    curves = collections.defaultdict(dict)
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            curves[row["dataset"], row["seed"]][row["step"]] = row
    for dataset in sorted({d for d, _ in curves}):
        runs = {seed: steps for (d, seed), steps in curves.items() if d == dataset}
        final = {seed: steps[max(steps)]["accuracy"] for seed, steps in runs.items()}
        print(f"{dataset}: final accuracy by seed {final} (mean {np.mean(list(final.values())):.3f}, "
              f"worst {min(final.values()):.3f})")

        def score_at(seed, k):
            steps = runs[seed]
            return steps[min(steps, key=lambda s: abs(s - k))]["score"]

        seeds = sorted(runs)
        for k in (1000, 2000, 3000, 4000):
            rho = spearman([score_at(s, k) for s in seeds], [final[s] for s in seeds])
            for n in range(2, min(4, len(seeds)) + 1):
                kept = [final[max(group, key=lambda s: score_at(s, k))] for group in itertools.combinations(seeds, n)]
                print(f"  K={k} N={n}: kept mean {np.mean(kept):.3f}, worst {min(kept):.3f} "
                      f"(Spearman of the score at K with the final accuracy {rho:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", default=[], help="NAME or NAME:DATA_DIR, as quality_benchmark")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--results", required=True, help="JSON-lines file the rows are appended to")
    parser.add_argument("--report", action="store_true", help="only print the report of --results")
    args = parser.parse_args()
    if not args.report:
        probe(args)
    report(args.results)


if __name__ == "__main__":
    main()
