"""Training speed of jointvae-tf: images/s, step time and peak memory, in alternation, median of repeats.

Configs (the two reference latent specs of the paper):

- ``32``: 32x32x1, cont 10, disc [10]   (687,359 parameters)
- ``64``: 64x64x1, cont 6, disc [3]

Variants, named by dash-separated tokens:

- ``ours``: :class:`jointvae_tf.core.model.JointVAE` built by ``jointvae_tf.training.trainer.build_model`` (our train_step).
- ``plain``: the plain Keras baseline -- the same encoder and decoder in a small ``keras.Model`` whose
  ``compute_loss`` is BCE + |KL_cont - C| + |KL_disc - C| (C fixed at 5 nats), trained by Keras'
  standard ``train_step``. With the JAX backend it is also the GPU model (TensorFlow is not installed
  there); ``plain-loop`` runs it in a jitted JAX loop over on-device data (no ``fit``).
- ``pipeline``: the input pipeline alone (iterating ``jointvae_tf.data.make_dataset``).
- ``torch``: the PyTorch reference trainer ``scripts/reference_pytorch.py`` (same networks and objective,
  eager PyTorch), run by the interpreter ``--torch-python`` names; no modifiers.
- modifiers: ``xla`` (jit_compile), ``speN`` (steps_per_execution N, default 1), ``bf16`` / ``f16``
  (mixed_bfloat16 / mixed_float16), ``intraN`` / ``interN`` (TensorFlow thread pools), ``rotN``
  (``ours`` only: the rotation-invariance term over +-N degrees at weight 10, as four_shapes trains),
  ``hw`` (``ours`` only: the handwriting recipe's consistency term, moves and stroke widths, mutual
  information), ``everyN`` (with ``rotN`` or ``hw``: that term at every Nth step only).

Besides wall time it reports the CPU time of the process per step (all its threads) and its ratio to the
baseline's: on a machine that other jobs share, wall time says how long a user waits, CPU time what a step
costs.

Each measurement runs in a fresh subprocess (clean TensorFlow state, thread settings, peak memory of its
own); the outer loop is over repeats, so the variants alternate (A, B, A, B) and the machine's drift hits
them alike. Training data are random uint8 images fed through ``make_dataset`` (shuffled, repeated).

With its defaults (config 32, batch 64, the variants of ``DEFAULT_VARIANTS``, 3 repeats) it takes 3-8
minutes on 2 CPU cores, and never more than ``--budget`` seconds (14 minutes): once that is spent no new
repeat starts, and the summary reports the repeats done. A measurement that fails or times out (a busy
machine) is reported as such and left out of the medians; the script exits 0 unless its arguments are wrong.

Examples::

    python scripts/benchmark_training.py                               # the default step against plain
    python scripts/benchmark_training.py --configs 32,64 --batch 64,256 \
        --variants plain,ours-spe10,ours-spe50,ours-xla-spe10,ours-bf16-spe10,pipeline --json results.json
    python scripts/benchmark_training.py --configs 32 --batch 64 --variants torch,plain,ours-spe10 \
        --baseline torch --torch-python torch-env/bin/python          # against PyTorch, same run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

CONFIGS = {"32": dict(image_size=32, cont=10, disc=(10,)), "64": dict(image_size=64, cont=6, disc=(3,))}
DEFAULT_VARIANTS = ("plain", "ours", "ours-rot180-every2-spe10", "ours-hw-spe10")
"""The plain Keras step, ours without a consistency term, and the two steps ``jvae-tf train`` runs by
default (10 steps per call): four_shapes' (the rotation term at every other step) and the handwriting
presets' (moves and stroke widths, mutual information, at every step)."""
PRECISION_TOKENS = {"bf16": "mixed_bfloat16", "f16": "mixed_float16"}


def parse_variant(name: str) -> dict:
    """``"ours-xla-spe10-bf16"`` -> {"model": "ours", "jit": True, "spe": 10, "precision": ...}."""
    model, *tokens = name.split("-")
    variant = {"model": model, "jit": False, "spe": 1, "precision": "float32", "intra": 0, "inter": 0,
               "rot": 0, "loop": False, "hw": False, "every": 1}
    if model not in ("ours", "plain", "pipeline", "torch") or (model == "torch" and tokens):
        raise SystemExit(f"--variants: {name!r} should start with ours, plain or pipeline, or be torch")
    for token in tokens:
        if token == "xla":
            variant["jit"] = True
        elif token == "loop":
            variant["loop"] = True
        elif token == "hw":
            variant["hw"] = True
        elif token in PRECISION_TOKENS:
            variant["precision"] = PRECISION_TOKENS[token]
        elif re.fullmatch(r"(spe|intra|inter|rot|every)\d+", token):
            key = token.rstrip("0123456789")
            variant[key] = int(token[len(key):])
            if key in ("spe", "every") and variant[key] < 1:
                raise SystemExit(f"--variants: {token!r} in {name!r}: expected a count of steps >= 1")
        else:
            raise SystemExit(f"--variants: unknown token {token!r} in {name!r}")
    if (variant["rot"] or variant["hw"]) and model != "ours":
        raise SystemExit(f"--variants: rotN and hw apply to ours only, not {name!r}")
    if variant["every"] > 1 and not (variant["rot"] or variant["hw"]):
        raise SystemExit(f"--variants: everyN needs a consistency term (rotN or hw) in {name!r}")
    return variant


# -- the plain Keras baseline (backend-agnostic: keras.ops only) --------------------------------------

def build_plain_model(image_size: int, cont: int, disc: tuple[int, ...]):
    """Our encoder and decoder in a minimal keras.Model trained by Keras' own train_step (one disc variable)."""
    import keras
    from keras import ops

    from jointvae_tf.core.config import LatentSpec, ModelConfig
    from jointvae_tf.core.networks import build_decoder, build_encoder

    config = ModelConfig(image_size=image_size, channels=1, latent=LatentSpec(cont, disc))

    class PlainVAE(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = build_encoder(config)
            self.decoder = build_decoder(config)
            self.seed_generator = keras.random.SeedGenerator(0)

        def call(self, images, training=False):
            """Per-image loss ``[batch]``: BCE (nats) + 30 |KL_cont - 5| + 30 |KL_disc - 5|."""
            images = ops.cast(images, "float32")
            encoding = ops.cast(self.encoder(images, training=training), "float32")
            mean, log_var = encoding[:, :cont], encoding[:, cont:2 * cont]
            logits = encoding[:, 2 * cont:]
            z = mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean), seed=self.seed_generator)
            uniform = keras.random.uniform(ops.shape(logits), 1e-6, 1.0, seed=self.seed_generator)
            gumbel = -ops.log(-ops.log(uniform))
            code = ops.softmax((logits + gumbel) / 0.67, axis=-1)
            pixel_logits = ops.cast(self.decoder(ops.concatenate([z, code], axis=-1), training=training), "float32")
            bce = ops.sum(ops.maximum(pixel_logits, 0) - pixel_logits * images
                          + ops.log1p(ops.exp(-ops.abs(pixel_logits))), axis=(1, 2, 3))
            kl_cont = 0.5 * ops.sum(ops.square(mean) + ops.exp(log_var) - 1.0 - log_var, axis=-1)
            log_probs = ops.log_softmax(logits, axis=-1)
            kl_disc = ops.sum(ops.exp(log_probs) * log_probs, axis=-1) + math.log(disc[0])
            return bce + 30.0 * ops.abs(kl_cont - 5.0) + 30.0 * ops.abs(kl_disc - 5.0)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return ops.mean(y_pred)

    model = PlainVAE()
    model(ops.zeros((1, image_size, image_size, 1)))
    return model


# -- one measurement (child process) ------------------------------------------------------------------

def peak_memory_mib() -> dict:
    import resource

    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                out["peak_gpu_mib"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        elif keras.backend.backend() == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                out["peak_gpu_mib"] = stats["peak_bytes_in_use"] / 2**20
    except Exception:  # noqa: BLE001 - memory figures are best effort
        pass
    return out


def synthetic_images(count: int, image_size: int):
    import numpy as np

    rng = np.random.default_rng(0)
    return (rng.integers(0, 10, (count, image_size, image_size, 1), dtype=np.uint8) < 3).astype(np.uint8) * 255


def measure_fit(model, dataset, batch: int, spe: int, seconds: float, warmup_s: float) -> dict:
    """Steady-state images/s of ``model.fit``: timed from the first call after ``warmup_s`` to ``seconds`` later."""
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start = time.perf_counter()
            self.first = self.calls = 0
            self.last = 0.0

        def on_train_batch_end(self, batch_index, logs=None):
            self.last = time.perf_counter()
            self.last_cpu = time.process_time()
            if not self.first and self.last - self.start >= warmup_s:
                self.first, self.first_cpu = self.last, self.last_cpu
            elif self.first:
                self.calls += 1
                if self.last - self.first >= seconds:
                    self.model.stop_training = True

    clock = Clock()
    model.fit(dataset, epochs=1, steps_per_epoch=10**9 // spe * spe, callbacks=[clock], verbose=0)
    calls, elapsed = clock.calls, clock.last - clock.first
    steps = calls * spe
    if not steps:
        return {"error": f"no call ended within {seconds:.0f} s after the warm-up (machine busy?)"}
    cpu_ms = 1000 * (clock.last_cpu - clock.first_cpu) / steps
    return {"images_per_s": steps * batch / elapsed, "ms_per_step": 1000 * elapsed / steps, "steps": steps,
            "cpu_ms_per_step": cpu_ms}


def measure_pipeline(dataset, batch: int, seconds: float) -> dict:
    iterator = iter(dataset)
    next(iterator)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        next(iterator)
        steps += 1
    elapsed = time.perf_counter() - start
    return {"images_per_s": steps * batch / elapsed, "ms_per_step": 1000 * elapsed / steps, "steps": steps}


def measure_jax_loop(model, images, batch: int, spe: int, seconds: float) -> dict:
    """The plain model in a jitted JAX loop: ``spe`` steps per call over uint8 images kept on the device."""
    import jax
    import jax.numpy as jnp
    import keras

    optimizer = keras.optimizers.Adam(5e-4)
    optimizer.build(model.trainable_variables)
    data = jax.device_put(jnp.asarray(images))
    batches = len(images) // batch

    def one_step(state, index):
        trainable, non_trainable, opt_vars = state
        x = jax.lax.dynamic_slice_in_dim(data, (index % batches) * batch, batch).astype(jnp.float32) / 255.0

        def loss_fn(trainable, non_trainable):
            per_image, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            return jnp.mean(per_image), non_trainable

        (loss, non_trainable), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable, non_trainable)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return (trainable, non_trainable, opt_vars), loss

    @jax.jit
    def run(state, first):
        return jax.lax.scan(one_step, state, first + jnp.arange(spe))

    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])
    state, losses = run(state, 0)
    jax.block_until_ready(losses)
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        state, losses = run(state, calls * spe)
        calls += 1
        if calls % 4 == 0:
            jax.block_until_ready(losses)
    jax.block_until_ready(losses)
    elapsed = time.perf_counter() - start
    steps = calls * spe
    if not bool(jnp.all(jnp.isfinite(losses))):
        raise RuntimeError("non-finite loss in the JAX loop")
    return {"images_per_s": steps * batch / elapsed, "ms_per_step": 1000 * elapsed / steps, "steps": steps}


def child(job: dict) -> dict:
    variant = parse_variant(job["variant"])
    if variant["intra"] or variant["inter"]:
        import tensorflow as tf  # before any TensorFlow op: the pools are fixed at the first one

        tf.config.threading.set_intra_op_parallelism_threads(variant["intra"])
        tf.config.threading.set_inter_op_parallelism_threads(variant["inter"])
    import keras

    from jointvae_tf.core.precision import set_precision

    config = CONFIGS[job["config"]]
    batch, spe = job["batch"], variant["spe"]
    images = synthetic_images(max(4096, 4 * batch), config["image_size"])
    set_precision(variant["precision"])
    if variant["loop"]:
        model = build_plain_model(**config)
        return measure_jax_loop(model, images, batch, spe, job["seconds"]) | peak_memory_mib()

    import numpy as np

    from jointvae_tf.data import make_dataset
    from jointvae_tf.data.info import Examples

    examples = Examples(images, np.zeros(len(images), np.int32), None)
    dataset = make_dataset(examples, batch, shuffle=True, seed=0, repeat=True, drop_remainder=True)
    if variant["model"] == "pipeline":
        return measure_pipeline(dataset, batch, job["seconds"]) | peak_memory_mib()
    if variant["model"] == "plain":
        model = build_plain_model(**config)
        model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=variant["jit"], steps_per_execution=spe)
    else:
        from jointvae_tf.core.config import (
            InvarianceConfig,
            LatentSpec,
            ModelConfig,
            RunConfig,
            TrainConfig,
        )
        from jointvae_tf.training.trainer import build_model

        from jointvae_tf.data.catalog import HANDWRITING

        invariance = (HANDWRITING["model.invariance"] if variant["hw"] else
                      InvarianceConfig(rotation=variant["rot"], weight=10.0 if variant["rot"] else 0.0))
        invariance = dataclasses.replace(invariance, every=variant["every"])
        model_config = ModelConfig(image_size=config["image_size"], latent=LatentSpec(config["cont"], config["disc"]),
                                   invariance=invariance)
        train_config = TrainConfig(batch_size=batch, jit_compile=variant["jit"], steps_per_execution=spe,
                                   precision=variant["precision"])
        model = build_model(RunConfig(model=model_config, train=train_config))
    images_only = dataset.map(lambda b: b["image"])
    return measure_fit(model, images_only, batch, spe, job["seconds"], job["warmup"]) | peak_memory_mib()


# -- the parent: alternate, repeat, summarise ---------------------------------------------------------

def machine_description() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}
    probe = ("import keras, json; info = {'keras': keras.__version__, 'backend': keras.backend.backend()}\n"
             "try:\n import tensorflow as tf; info['tensorflow'] = tf.__version__;"
             " info['gpus'] = [d.name for d in tf.config.list_physical_devices('GPU')]\n"
             "except ImportError:\n import jax; info['jax'] = jax.__version__;"
             " info['gpus'] = [str(d) for d in jax.devices()]\n"
             "print(json.dumps(info))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    try:
        info |= json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        info["probe_error"] = result.stderr[-500:]
    return info


def run_job(job: dict, timeout: float, torch_python: str) -> dict:
    if job["variant"] == "torch":
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_pytorch.py")
        command = [torch_python, script, json.dumps(job)]
    else:
        command = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(job)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(result.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (result.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="32", help="comma-separated: 32, 64")
    parser.add_argument("--batch", default="64", help="comma-separated batch sizes")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help="comma-separated variant names")
    parser.add_argument("--baseline", default="plain", help="variant the ratios are taken against")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the median is reported")
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of training before timing starts")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds before one measurement is abandoned")
    parser.add_argument("--budget", type=float, default=840.0,
                        help="seconds in all: no repeat starts after this, the summary reports those done")
    parser.add_argument("--json", help="also write every measurement and the summary to this file")
    parser.add_argument("--torch-python", default=sys.executable,
                        help="Python with torch and numpy installed, for the torch variant")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return

    variants = args.variants.split(",")
    for name in variants:
        parse_variant(name)
    machine = machine_description()
    print(json.dumps(machine))
    jobs = [{"config": c, "batch": int(b), "variant": v, "seconds": args.seconds, "warmup": args.warmup}
            for c in args.configs.split(",") for b in args.batch.split(",") for v in variants]
    records = []
    started = time.monotonic()
    for repeat in range(args.repeats):
        if repeat and time.monotonic() - started > args.budget * repeat / (repeat + 1):
            print(f"  (stopping after {repeat} repeats: another would pass the {args.budget:.0f} s budget)")
            break
        for job in jobs:
            result = run_job(job, args.timeout, args.torch_python) | job | {"repeat": repeat}
            records.append(result)
            shown = f"{result['images_per_s']:,.0f} img/s" if "images_per_s" in result else result["error"]
            print(f"  [{repeat}] {job['config']} b{job['batch']} {job['variant']}: {shown}", flush=True)

    summary = summarise(records, args.baseline)
    print(f"\n{'config':>6} {'batch':>6} {'variant':<24} {'images/s':>11} {'ms/step':>8} {'CPU ms':>7} "
          f"{'peak MiB':>9} {'vs ' + args.baseline:>9} {'CPU vs':>7}")
    for row in summary:
        memory = row.get("peak_gpu_mib", row.get("peak_rss_mib", float("nan")))
        ratio = f"{row['ratio']:.2f}x" if row.get("ratio") else "-"
        cpu_ratio = f"{row['cpu_ratio']:.2f}x" if row.get("cpu_ratio") else "-"
        print(f"{row['config']:>6} {row['batch']:>6} {row['variant']:<24} {row['images_per_s']:>11,.0f} "
              f"{row['ms_per_step']:>8.2f} {row.get('cpu_ms_per_step', float('nan')):>7.1f} {memory:>9.0f} "
              f"{ratio:>9} {cpu_ratio:>7}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "records": records, "summary": summary}, f, indent=1)


def summarise(records: list[dict], baseline: str) -> list[dict]:
    """Median over repeats per (config, batch, variant), with the ratio to ``baseline`` in the same setting."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        if "images_per_s" in record:
            groups.setdefault((record["config"], record["batch"], record["variant"]), []).append(record)
    rows = []
    for (config, batch, variant), group in groups.items():
        row = {"config": config, "batch": batch, "variant": variant, "repeats": len(group)}
        for key in ("images_per_s", "ms_per_step", "cpu_ms_per_step", "peak_rss_mib", "peak_gpu_mib"):
            values = [r[key] for r in group if key in r]
            if values:
                row[key] = statistics.median(values)
        rows.append(row)
    reference = {(r["config"], r["batch"]): r for r in rows if r["variant"] == baseline}
    for row in rows:
        base = reference.get((row["config"], row["batch"]))
        if base and row["variant"] != "pipeline":
            row["ratio"] = row["images_per_s"] / base["images_per_s"]
            if row.get("cpu_ms_per_step") and base.get("cpu_ms_per_step"):
                row["cpu_ratio"] = base["cpu_ms_per_step"] / row["cpu_ms_per_step"]
    return rows


if __name__ == "__main__":
    main()
