"""Throughput of the data path: procedural rendering, normalisation and make_dataset iteration (images/s).

    python scripts/benchmark_pipeline.py [--examples 20000] [--epochs 3]
"""

import argparse
import os
import platform
import time

import numpy as np
import tensorflow as tf

from jointvae_tf.data import make_dataset
from jointvae_tf.data.normalize import normalize_handwriting
from jointvae_tf.data.procedural import render_split


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f} images/s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.platform()} | {platform.processor() or platform.machine()} | {os.cpu_count()} CPUs | "
          f"TensorFlow {tf.__version__} | numpy {np.__version__} | GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    for size in (32, 64):
        start = time.perf_counter()
        examples = render_split("train", args.examples, size, seed=0)
        print(f"render four_shapes {size}x{size}: {rate(args.examples, time.perf_counter() - start)}")
        start = time.perf_counter()
        normalize_handwriting(examples.images)
        print(f"normalise          {size}x{size}: {rate(args.examples, time.perf_counter() - start)}")
        for batch_size in (64, 256):
            dataset = make_dataset(examples, batch_size, shuffle=True, seed=0)
            for _ in dataset.take(2):
                pass  # warm up: builds the pipeline and fills the shuffle buffer once
            start = time.perf_counter()
            for _ in range(args.epochs):
                for _ in dataset:
                    pass
            print(f"make_dataset       {size}x{size} batch {batch_size:>3}: "
                  f"{rate(args.epochs * args.examples, time.perf_counter() - start)}")


if __name__ == "__main__":
    main()
