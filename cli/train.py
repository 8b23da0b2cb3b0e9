"""``jvae-tf train``: train a JointVAE on a dataset into a run folder."""

from __future__ import annotations

import textwrap

import click
from jointvae_tf.cli.options import (
    flag_of,
    parse_capacity,
    parse_disc,
    parse_names,
    setting_option,
    settings_given,
)

from jointvae_tf.core.config import (
    AGREEMENT_OBJECTIVES,
    DISTRIBUTE_STRATEGIES,
    NORMALIZATIONS,
    PRECISIONS,
    RECONSTRUCTION_LOSSES,
)


@click.command("train")
@setting_option("--dataset", "data.name", help="Dataset name (see `jvae-tf datasets`).")
@setting_option("--data-dir", "data.data_dir", type=click.Path(),
                help="Where the dataset's files are (TFDS data_dir for TFDS datasets).")
@setting_option("--classes", "data.classes", callback=parse_names, default_text="all",
                help="Train on these classes only, e.g. 0,1,2,3,4; labels are renumbered in the dataset's order and "
                     "--disc defaults to two categories per class chosen.")
@setting_option("--image-size", "model.image_size", per_dataset=True, type=int,
                help="Model image side in pixels: 32 or 64.")
@setting_option("--normalize", "data.normalize", per_dataset=True, type=click.Choice(NORMALIZATIONS),
                help="Centre and rescale each image: by its ink's bounding box; by its centre of mass and RMS "
                     "radius; or also whitening its covariance (undoes stretch and shear).")
@setting_option("--max-examples", "data.max_examples", type=int, help="Use at most this many training images.")
@setting_option("--cont", "model.latent.cont", per_dataset=True, type=int, help="Continuous latent dimensions.")
@setting_option("--disc", "model.latent.disc", per_dataset=True, callback=parse_disc,
                help="Category counts, e.g. 10 or 10,3; 'none' for no discrete code.")
@setting_option("--epochs", "train.epochs", per_dataset=True, type=int,
                help="Training epochs (replaces the preset's --steps); trains them all, with no stop when the "
                     "discrete code has settled.")
@setting_option("--steps", "train.steps", per_dataset=True, type=int,
                help="Optimizer steps, rounded up to whole epochs; wins over --epochs. Trains them all; without "
                     "--steps/--epochs the preset's length is an upper bound and the run ends once its discrete "
                     "code has settled.")
@setting_option("--batch-size", "train.batch_size", type=int)
@setting_option("--lr", "train.learning_rate", per_dataset=True, type=float, help="Adam learning rate.")
@setting_option("--loss", "model.loss.kind", type=click.Choice(RECONSTRUCTION_LOSSES), help="Reconstruction loss.")
@setting_option("--loss-scale", "model.loss.scale", type=float, default_text="0.1 for nll, 1.0 for rho",
                help="Scale c of the robust losses (initial value when learned).")
@setting_option("--loss-alpha", "model.loss.alpha", type=float, help="Shape alpha of the general loss.")
@setting_option("--loss-form", "model.loss.form", type=click.Choice(["nll", "rho"]),
                help="Robust losses: 'nll' learns c and adds the normaliser (nats); 'rho' is the bare penalty.")
@setting_option("--gamma", "model.loss.gamma", per_dataset=True, type=float, help="Weight of the capacity terms.")
@setting_option("--disc-balance", "model.loss.disc_balance", per_dataset=True, type=float,
                help="Weight of KL(batch-average q(c) || uniform): keeps every category in use.")
@setting_option("--invariant-rotation", "model.invariance.rotation", per_dataset=True, type=float,
                help="Degrees: the discrete code should not change under rotations up to this angle.")
@setting_option("--invariant-scale", "model.invariance.scale", per_dataset=True, type=float,
                help="Fraction: the discrete code should not change under scalings by up to 1 +- this.")
@setting_option("--invariant-shift", "model.invariance.shift", per_dataset=True, type=float,
                help="Pixels: the discrete code should not change under shifts up to this along each axis.")
@setting_option("--invariant-thickness", "model.invariance.thickness", per_dataset=True, type=float,
                help="Fraction of a pixel: the discrete code should not change when strokes thicken or thin so much.")
@setting_option("--invariant-outline", "model.invariance.outline", per_dataset=True, type=float,
                help="Probability: the discrete code should not change when a drawing becomes its outline.")
@setting_option("--invariant-hatch", "model.invariance.hatch", per_dataset=True, type=float,
                help="Probability: the discrete code should not change when a drawing's fill becomes stripes.")
@setting_option("--invariant-contrast", "model.invariance.contrast", per_dataset=True, type=float,
                help="Fraction of full scale: the discrete code should not change when the ground is raised and "
                     "the ink dimmed by up to this.")
@setting_option("--invariant-noise", "model.invariance.noise", per_dataset=True, type=float,
                help="Fraction of full scale: the discrete code should not change under pixel noise of a standard "
                     "deviation up to this.")
@setting_option("--invariance-objective", "model.invariance.objective", per_dataset=True,
                type=click.Choice(AGREEMENT_OBJECTIVES),
                help="How two views' categories are compared: 'agreement' (same category, per image) or "
                     "'mutual_information' (IIC, over the batch; balances the categories too).")
@setting_option("--invariance-weight", "model.invariance.weight", per_dataset=True, type=float,
                help="Weight of the disagreement between q(c|x) and q(c|transformed x), nats.")
@setting_option("--invariance-every", "model.invariance.every", per_dataset=True, type=int,
                help="Measure the disagreement at every Nth training step only, at N times its weight (a "
                     "cheaper step).")
@setting_option("--cont-capacity", "model.cont_capacity", per_dataset=True, callback=parse_capacity,
                help="MIN,MAX,ITERS in nats and steps.")
@setting_option("--disc-capacity", "model.disc_capacity", per_dataset=True, callback=parse_capacity,
                help="MIN,MAX,ITERS; clipped at sum log K nats.")
@setting_option("--temperature", "model.temperature", type=float, help="Relaxed one-hot temperature.")
@setting_option("--seed", "train.seed", type=int)
@setting_option("--restarts", "train.restarts", type=int,
                help="Train this many short candidates from different initial weights and continue the one whose "
                     "discrete code the label-free score rates best (restarts.json in the run folder).")
@setting_option("--restart-steps", "train.restart_steps", type=int,
                help="Steps each candidate trains at most (rounded up to whole epochs); one clearly behind is "
                     "dropped earlier.")
@setting_option("--jit/--no-jit", "train.jit_compile", default_text="on with a GPU, off on CPU",
                help="XLA-compile the training step.")
@setting_option("--steps-per-execution", "train.steps_per_execution", type=int,
                help="Training steps fused into one call; callbacks run between calls (docs/reference/performance.md).")
@setting_option("--precision", "train.precision", type=click.Choice(PRECISIONS),
                help="Keras dtype policy; mixed_* compute in 16 bits (docs/reference/performance.md).")
@setting_option("--distribute", "train.distribute", type=click.Choice(DISTRIBUTE_STRATEGIES),
                help="One device, all local GPUs, or TF_CONFIG's workers; --batch-size is global.")
@setting_option("--checkpoint-every", "train.checkpoint_every", type=int, help="Steps between checkpoints.")
@click.option("--out", "run_dir", type=click.Path(file_okay=False), default=None,
              help="Run folder [runs/DATASET-cCONT-dDISC-sSEED].")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last checkpoint with the settings of its config.json; other "
                   "flags must agree with them, except --epochs/--steps (to train longer) and --distribute.")
def train(run_dir, resume, **options):
    """Train a JointVAE; writes config, checkpoints, TensorBoard logs and pictures to the run folder."""
    from jointvae_tf.core.config import RunConfig
    from jointvae_tf.run_folders.folder import RunFolder
    from jointvae_tf.training.presets import build_run_config, resume_run_config
    from jointvae_tf.training.trainer import train as train_run

    settings = settings_given(options)
    if resume:
        if run_dir is None:
            raise click.UsageError("--resume needs --out RUN_DIR")
        stored = RunConfig.load(RunFolder(run_dir).config)
        run = resume_run_config(stored, settings)
    else:
        stored = None
        run = build_run_config(settings.pop("data.name", None), settings)
    run_dir = run_dir or default_run_dir(run)
    click.echo(describe_run(run, run_dir, stored))
    result = train_run(run, run_dir, resume=resume)
    summary = "".join(f", {k} {v:.4g}" for k, v in result.logs.items() if k.startswith("val_") or k == "loss")
    click.echo(f"Trained {result.step} steps{summary}. Run folder: {run_dir} "
               f"(config.json, checkpoints/, logs/ for TensorBoard, pictures/)")


def default_run_dir(run) -> str:
    """``runs/DATASET-cCONT-dDISC-sSEED``."""
    disc = "x".join(map(str, run.model.latent.disc)) or "none"
    return f"runs/{run.data.name}-c{run.model.latent.cont}-d{disc}-s{run.train.seed}"


def describe_run(run, run_dir: str, stored=None) -> str:
    """The resolved configuration, one line per section, as printed when training starts; for a run resumed
    from ``stored`` (its config.json), also what the flags changed."""
    classes = run.data.classes
    lines = [f"{'Resuming' if stored else 'Training'} {run_dir} on {len(classes)} classes of {run.data.name} "
             f"({', '.join(classes)}) with:"]
    sections: dict[str, list[str]] = {}
    for path, value in run.settings().items():
        section, _, name = path.partition(".")
        sections.setdefault(section, []).append(f"{name}={value}")
    for section, fields in sections.items():
        lines.append(textwrap.fill(", ".join(fields), width=110, initial_indent=f"  {section}: ",
                                   subsequent_indent=" " * (len(section) + 4), break_on_hyphens=False))
    if stored:
        before = stored.settings()
        lines += [f"  {flag_of(path)} {value} instead of the run's {before[path]} ({path} in config.json)"
                  for path, value in run.settings().items() if value != before[path]]
    return "\n".join(lines)
