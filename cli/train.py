"""``jvae-tf train``: train a JointVAE on a dataset into a run folder."""

from __future__ import annotations

import click

from cli.options import parse_capacity, parse_disc


@click.command("train")
@click.option("--dataset", default="four_shapes", show_default=True, help="Dataset name (see `jvae-tf datasets`).")
@click.option("--data-dir", type=click.Path(), default=None, help="Where the dataset's files are (TFDS data_dir for TFDS datasets).")
@click.option("--image-size", type=click.Choice(["32", "64"]), default=None, help="Model image side in pixels [dataset default].")
@click.option("--normalize", type=click.Choice(["none", "box", "moments", "affine"]), default=None,
              help="Centre and rescale each image: by its ink's bounding box; by its centre of mass and RMS "
                   "radius; or also whitening its covariance (undoes stretch and shear) [dataset default].")
@click.option("--max-examples", type=int, default=None, help="Use at most this many training images.")
@click.option("--cont", type=click.IntRange(min=0), default=None, help="Continuous latent dimensions [dataset default].")
@click.option("--disc", callback=parse_disc, default=None, help="Category counts, e.g. 10 or 10,3; 'none' for no discrete code.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Training epochs [dataset default].")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-4, show_default=True, help="Adam learning rate.")
@click.option("--loss", type=click.Choice(["bce", "mse", "cauchy", "general"]), default="bce", show_default=True,
              help="Reconstruction loss.")
@click.option("--loss-scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Scale c of the robust losses (initial value when learned).  [default: 1.0 rho, 0.1 nll]")
@click.option("--loss-alpha", type=float, default=1.0, show_default=True, help="Shape alpha of the general loss.")
@click.option("--loss-form", type=click.Choice(["nll", "rho"]), default="nll", show_default=True,
              help="Robust losses: 'nll' learns c and adds the normaliser (nats); 'rho' is the bare penalty.")
@click.option("--gamma", type=click.FloatRange(min=0), default=None, help="Weight of the capacity terms [dataset default].")
@click.option("--disc-balance", type=click.FloatRange(min=0), default=None,
              help="Weight of KL(batch-average q(c) || uniform): keeps every category in use [dataset default].")
@click.option("--invariant-rotation", type=click.FloatRange(0, 180), default=None,
              help="Degrees: the discrete code should not change under rotations up to this angle [dataset default].")
@click.option("--invariance-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of the disagreement between q(c|x) and q(c|rotated x), nats [dataset default].")
@click.option("--cont-capacity", callback=parse_capacity, default=None, help="MIN,MAX,ITERS in nats and steps.")
@click.option("--disc-capacity", callback=parse_capacity, default=None, help="MIN,MAX,ITERS; clipped at sum log K nats.")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=0.67, show_default=True,
              help="Relaxed one-hot temperature.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--jit/--no-jit", default=None, help="XLA-compile the training step [on with a GPU, off on CPU].")
@click.option("--steps-per-execution", type=click.IntRange(min=1), default=10, show_default=True,
              help="Training steps fused into one call; callbacks run between calls. 10: 1.2-1.3x the images/s "
                   "of 1 at batch 64 on 2 CPU cores, ~2x on a GPU (docs/performance.md).")
@click.option("--precision", type=click.Choice(["float32", "mixed_bfloat16", "mixed_float16"]), default="float32",
              show_default=True, help="Keras dtype policy; mixed_* compute in 16 bits (docs/performance.md).")
@click.option("--distribute", type=click.Choice(["none", "mirrored", "multiworker"]), default="none",
              show_default=True, help="One device, all local GPUs, or TF_CONFIG's workers; --batch-size is global.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True, help="Steps between checkpoints.")
@click.option("--out", "run_dir", type=click.Path(file_okay=False), default=None,
              help="Run folder [runs/DATASET-cCONT-dDISC-sSEED].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
def train(dataset, run_dir, resume, **options):
    """Train a JointVAE; writes config, checkpoints, TensorBoard logs and pictures to the run folder."""
    from jointvae_tf.presets import build_run_config
    from jointvae_tf.training import train as train_run

    run = build_run_config(dataset, **options)
    if run_dir is None:
        if resume:
            raise click.UsageError("--resume needs --out RUN_DIR")
        disc = "x".join(map(str, run.model.latent.disc)) or "none"
        run_dir = f"runs/{dataset}-c{run.model.latent.cont}-d{disc}-s{run.train.seed}"
    result = train_run(run, run_dir, resume=resume)
    summary = ", ".join(f"{k} {v:.4g}" for k, v in result.logs.items() if k.startswith("val_") or k == "loss")
    click.echo(f"Trained {result.step} steps; {summary}. Run folder: {run_dir} "
               f"(config.json, checkpoints/, logs/ for TensorBoard, pictures/)")
