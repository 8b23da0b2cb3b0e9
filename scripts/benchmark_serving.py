"""Latency and throughput of the exported ``sample`` signature, loaded in-process.

    python scripts/benchmark_serving.py [--run RUN_DIR] [--rounds 5] [--calls 40]

Without ``--run`` it benchmarks an untrained 32x32x1 model with cont 10, disc (10,) (the speed of a
signature does not depend on the weights). Exports are never XLA-compiled (TF-Serving disables XLA by
default); the export is measured round after round, because this machine's speed drifts; each call includes the random draws, the decoder and the PNG encoding, and ends when every output is in
numpy. Prints a markdown table: per-call latency p50 / p99 (ms) and images per second, for N=1 and
N=64 images per request.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from jointvae_tf.core.config import LatentSpec, ModelConfig, RunConfig  # noqa: E402
from jointvae_tf.run_folders.folder import RunFolder, prepare_run  # noqa: E402
from jointvae_tf.serving import export  # noqa: E402
from jointvae_tf.serving.predictor import raise_row_errors, request_rows  # noqa: E402
from jointvae_tf.training.trainer import build_model  # noqa: E402

BATCHES = (1, 64)


def untrained_run(directory: str) -> str:
    run = RunConfig(model=ModelConfig(image_size=32, channels=1, latent=LatentSpec(10, (10,))))
    prepare_run(run, directory, resume=False)
    RunFolder(directory).checkpointer(build_model(run)).save(0)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="run folder to export [an untrained 32x32, cont 10, disc 10 model]")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds over the variants")
    parser.add_argument("--calls", type=int, default=40, help="timed calls per variant, batch size and round")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as root:
        run_dir = args.run or untrained_run(os.path.join(root, "run"))
        variants = {}
        for name in ("graph",):
            path = export.export_run(run_dir, out=os.path.join(root, name))
            variants[name] = tf.saved_model.load(path)
        counts = export.ExportConfig.load(path).latent.disc
        signatures = {name: loaded.signatures["sample"] for name, loaded in variants.items()}
        requests = {n: {name: tf.constant(value) for name, value in request_rows(n, 0, [], counts).items()}
                    for n in BATCHES}

        def call(signature, n):
            raise_row_errors({name: value.numpy() for name, value in signature(**requests[n]).items()}, "sample")

        latencies = {(name, n): [] for name in signatures for n in BATCHES}
        for name, signature in signatures.items():  # warm-up: tracing
            for n in BATCHES:
                for _ in range(3):
                    call(signature, n)
        for _ in range(args.rounds):
            for name, signature in signatures.items():
                for n in BATCHES:
                    for _ in range(args.calls):
                        start = time.perf_counter()
                        call(signature, n)
                        latencies[name, n].append(time.perf_counter() - start)

    print(f"sample signature, {os.cpu_count()} CPUs, {args.rounds} rounds x {args.calls} calls, model "
          f"{'from ' + args.run if args.run else 'untrained 32x32x1 cont 10 disc (10,)'}")
    print("| export | N | p50 ms | p99 ms | images/s |")
    print("|---|---|---|---|---|")
    for (name, n), times in latencies.items():
        times = np.asarray(times) * 1000
        print(f"| {name} | {n} | {np.percentile(times, 50):.2f} | {np.percentile(times, 99):.2f} | "
              f"{n * 1000 / times.mean():.0f} |")


if __name__ == "__main__":
    main()
