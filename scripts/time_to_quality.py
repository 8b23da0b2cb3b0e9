"""Time to quality: a whole `jvae-tf train` run in seconds and in plain Keras steps, with its accuracy.

For each seed it times the plain Keras step (``benchmark_training.py``'s ``plain`` variant, 32x32, batch 64),
then the whole training command (a subprocess: data, training, pictures), then the plain step again; the
run's wall time divided by the mean of the two plain steps is its length in **plain steps**, a figure that
carries from machine to machine and holds roughly on a shared one. The run folder's ``stopped.json`` (if it
stopped before its budget), its last checkpoint step and ``jvae-tf evaluate``'s scores on the validation
split and, for datasets that have one, the test split are reported beside. One JSON line per seed goes to
``--results``.

    python scripts/time_to_quality.py --seeds 0 1 2 -- --dataset four_shapes --cont 5
    python scripts/time_to_quality.py --seeds 0 --split test -- --dataset npz --data-dir heldout.npz
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def plain_step_ms(seconds: float) -> float | None:
    """Median ms of the plain Keras step over one short measurement (None when it could not finish)."""
    job = {"config": "32", "batch": 64, "variant": "plain", "seconds": seconds, "warmup": 3.0}
    result = subprocess.run([sys.executable, os.path.join(HERE, "benchmark_training.py"), "--child", json.dumps(job)],
                            capture_output=True, text=True)
    for line in reversed(result.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line).get("ms_per_step")
    return None


def jvae(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jointvae_tf", *args], capture_output=True, text=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--split", default="validation", help="split jvae-tf evaluate scores")
    parser.add_argument("--plain-seconds", type=float, default=6.0, help="timed seconds of each plain measurement")
    parser.add_argument("--results", default="time_to_quality.jsonl")
    parser.add_argument("--out", default=None, help="folder for the run folders (a temporary one by default)")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the flags of jvae-tf train")
    args = parser.parse_args(argv)
    train_args = [a for a in args.train_args if a != "--"]
    out = args.out or tempfile.mkdtemp(prefix="time-to-quality-")
    for seed in args.seeds:
        run_dir = os.path.join(out, f"seed{seed}")
        before = plain_step_ms(args.plain_seconds)
        start = time.perf_counter()
        trained = jvae("train", *train_args, "--seed", str(seed), "--out", run_dir)
        seconds = time.perf_counter() - start
        after = plain_step_ms(args.plain_seconds)
        row = {"train_args": train_args, "seed": seed, "seconds": seconds, "plain_ms": [before, after],
               "exit_code": trained.returncode}
        if trained.returncode:
            row["error"] = trained.stderr.strip().splitlines()[-1:]
        else:
            measured = [ms for ms in (before, after) if ms]
            row["plain_steps"] = seconds * 1000 / (sum(measured) / len(measured)) if measured else None
            stopped = os.path.join(run_dir, "stopped.json")
            row["stopped"] = json.load(open(stopped)) if os.path.exists(stopped) else None
            report = jvae("evaluate", run_dir, "--split", args.split, "--json")
            if report.returncode == 0:
                scores = json.loads(report.stdout)
                row.update({key: scores.get(key) for key in ("step", "cluster_accuracy", "nmi",
                                                             "classes_with_own_category", "num_classes")})
        print(json.dumps(row), flush=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
