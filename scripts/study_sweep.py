"""The latent-size and reconstruction-loss study: train a grid of JointVAEs within a wall-clock budget,
evaluate each, and write ``REPORT.md`` (metrics table, answers, downsized pictures) and ``results.json``.

    python scripts/study_sweep.py --grid quick --budget-minutes 12 --out runs/study --report-dir docs/study
    python scripts/study_sweep.py --dataset math_symbols --data-dir DIR --classes 0,1,2,3,4,5,6,7,8,9,add,sub,mul,div

Grids (K = the number of classes: the dataset's, or of ``--classes``; the baseline is cont 5, disc K, bce):
  quick: baseline; disc K/2 and 2K; cont 10; mse and cauchy (c = 1): six runs, one axis moved at a time.
  axes:  one axis at a time over the whole study: disc {none, K/2, K, 2K}, cont {1, 5, 10, 20},
         losses bce, mse (c = 1), cauchy c in {0.5, 1, 2} (the bare penalty, as the study used it) and
         cauchy with a learned c (the ``nll`` form).
  full:  every combination of disc {none, K/2, K, 2K} x cont {1, 5, 10, 20} x the six losses.
"Disc 1" of the study means no discrete code (a category count must be >= 2): a continuous-only VAE,
listed as disc "none", which has no clustering scores.

Budget: the runs share ``--budget-minutes`` in turn: each run may train for (time left) / (runs left)
minus the evaluation time measured so far, and stops early (at an epoch's step) when that is spent. The
number of steps a run plans, and the capacity schedules (C rising 0 -> ``--cont-capacity`` nats for z
and 0 -> log K for c over the first ``--ramp`` of the plan), come from a short measurement of the
training speed on this machine, unless ``--epochs`` fixes them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from jointvae_tf import data
from jointvae_tf.core.config import CapacitySchedule, DataConfig, RunConfig  # noqa: E402
from jointvae_tf.data import pixels
from jointvae_tf.errors import JointVAEError  # noqa: E402
from jointvae_tf.evaluation.inference import encode_dataset  # noqa: E402
from jointvae_tf.evaluation.report import EvaluationReport, evaluate_model, load_split  # noqa: E402
from jointvae_tf.runs.folder import open_run  # noqa: E402
from jointvae_tf.training.presets import build_run_config  # noqa: E402
from jointvae_tf.training.trainer import build_model, train  # noqa: E402
from jointvae_tf.viz import pictures  # noqa: E402
from jointvae_tf.viz.visualize import (  # noqa: E402
    category_traversal_picture,
    majority_class_names,
    samples_per_category_picture,
    traversal_gif_frames,
    traversal_picture,
)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One run of the grid: latent sizes and reconstruction loss."""

    cont: int
    disc: tuple[int, ...]
    loss: str = "bce"
    scale: float = 1.0
    form: str = "rho"

    @property
    def loss_label(self) -> str:
        if self.loss == "bce":
            return "bce"
        return f"{self.loss} c={self.scale:g}" if self.form == "rho" else f"{self.loss} learned c"

    @property
    def name(self) -> str:
        disc = "x".join(map(str, self.disc)) or "none"
        loss = self.loss if self.loss == "bce" else \
            f"{self.loss}{self.scale:g}" if self.form == "rho" else f"{self.loss}-nll"
        return f"c{self.cont}-d{disc}-{loss}"


LOSSES = (("bce", 1.0, "rho"), ("mse", 1.0, "rho"), ("cauchy", 0.5, "rho"), ("cauchy", 1.0, "rho"),
          ("cauchy", 2.0, "rho"), ("cauchy", 0.1, "nll"))


def study_grid(grid: str, num_classes: int) -> list[Setting]:
    """The settings of ``grid`` (``quick`` | ``axes`` | ``full``), baseline first, without repeats."""
    k = num_classes
    discs = [(), (max(2, k // 2),), (k,), (2 * k,)]
    conts = [1, 5, 10, 20]
    base = Setting(5, (k,))
    if grid == "quick":
        settings = [base, Setting(5, discs[1]), Setting(5, discs[3]), Setting(10, (k,)),
                    Setting(5, (k,), "mse"), Setting(5, (k,), "cauchy")]
    elif grid == "axes":
        settings = [base] + [Setting(5, d) for d in discs] + [Setting(c, (k,)) for c in conts] + \
            [Setting(5, (k,), *loss) for loss in LOSSES]
    elif grid == "full":
        settings = [base] + [Setting(c, d, *loss) for d in discs for c in conts for loss in LOSSES]
    else:
        raise JointVAEError(f"--grid: expected quick, axes or full, got {grid!r}")
    return list(dict.fromkeys(settings))


class TimeLimit(keras.callbacks.Callback):
    """Stops training once ``seconds`` of wall-clock time have passed since training began."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.started = None
        self.stopped_early = False

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.started > self.seconds:
            self.model.stop_training = True
            self.stopped_early = True


def recipe_options(args, planned_steps: int, disc: tuple[int, ...]) -> dict:
    """Objective and data settings of ``--recipe``: ``original`` (no normalisation, no balance or invariance
    term, C_z rising 0 -> --cont-capacity and C_c 0 -> --disc-capacity over --ramp of the run, gamma
    --gamma) or ``ours`` (the dataset's defaults of ``jvae-tf train``, with C_c rising to log K of each
    setting)."""
    if args.recipe == "ours":
        log_k = sum(math.log(k) for k in disc)
        steps = build_run_config(args.dataset).model.disc_capacity.steps
        return {"model.disc_capacity": CapacitySchedule(0.0, log_k, steps)}
    ramp = max(1, int(args.ramp * planned_steps))
    return {"data.normalize": "none", "model.loss.disc_balance": 0.0, "model.invariance.weight": 0.0,
            "model.loss.gamma": args.gamma, "model.cont_capacity": CapacitySchedule(0.0, args.cont_capacity, ramp),
            "model.disc_capacity": CapacitySchedule(0.0, args.disc_capacity, ramp)}


def recipe_summary(args) -> str:
    """One line for the report: what ``--recipe`` set."""
    if args.recipe == "original":
        return (f"no normalisation, gamma {args.gamma:g}, C_z 0 -> {args.cont_capacity:g} nats and C_c 0 -> "
                f"min({args.disc_capacity:g}, log K) nats over the first {args.ramp:.0%} of each run's steps")
    run = build_run_config(args.dataset)
    invariance = run.model.invariance
    return (f"`jvae-tf train` defaults: normalisation {run.data.normalize}, gamma {run.model.loss.gamma:g}, balance "
            f"{run.model.loss.disc_balance:g}, rotation invariance {invariance.rotation:g} degrees weight "
            f"{invariance.weight:g}, C_z 0 -> {run.model.cont_capacity.stop:g} nats over "
            f"{run.model.cont_capacity.steps} steps, C_c 0 -> log K over {run.model.disc_capacity.steps} steps")


def run_config(setting: Setting, args, planned_steps: int) -> RunConfig:
    """The RunConfig of one grid setting: the study's sizes and loss under ``--recipe``."""
    return build_run_config(args.dataset, {
        "data.data_dir": args.data_dir, "data.max_examples": args.max_examples, "model.latent.cont": setting.cont,
        "model.latent.disc": setting.disc, "train.epochs": max(1, math.ceil(planned_steps / steps_per_epoch(args))),
        "train.batch_size": args.batch_size, "train.learning_rate": args.lr, "model.loss.kind": setting.loss,
        "model.loss.scale": setting.scale, "model.loss.form": setting.form, "train.seed": args.seed,
        "train.checkpoint_every": 10**9, "train.eval_examples": args.eval_examples,
        "data.classes": chosen_classes(args),
        **recipe_options(args, planned_steps, setting.disc)})


def steps_per_epoch(args) -> int:
    return args.max_examples // args.batch_size


def measure_steps_per_second(args, setting: Setting) -> float:
    """Training speed of ``setting``'s model on this machine (random images, after a warm-up)."""
    run = run_config(setting, args, 1000)
    model = build_model(run)
    images = np.random.default_rng(0).random((args.batch_size, *run.model.image_shape)).astype(np.float32)
    batches = tf.data.Dataset.from_tensors(images).repeat()
    model.fit(batches, epochs=1, steps_per_epoch=5, verbose=0)  # traces the step
    start, n = time.monotonic(), 30
    model.fit(batches, epochs=1, steps_per_epoch=n, verbose=0)
    return n / (time.monotonic() - start)


def docs_pictures(model, examples: data.Examples, report: EvaluationReport, out_dir: str,
                  with_gif: bool) -> dict[str, str]:
    """Small pictures for the report (no upscaling): traversal grid, samples per category and category
    traversal (rows named after the majority class of their test images)."""
    os.makedirs(out_dir, exist_ok=True)
    kl_cont, kl_disc = np.array(report.kl_cont_per_dim), np.array(report.kl_disc_per_variable)
    names = None
    if report.disc:
        categories = encode_dataset(model, pixels.to_unit_range(examples.images)).categories[:, 0]
        names = majority_class_names(categories, examples.labels, examples.class_names, report.disc[0])
    found = {"traversals": traversal_picture(model, kl_cont, kl_disc, 8, 1),
             "per category": samples_per_category_picture(model, 0, 8, 1, names=names)}
    top = int(np.argmax(kl_cont)) if len(kl_cont) else None
    if top is not None and report.disc:
        found[f"categories x z{top}"] = category_traversal_picture(model, top, 0, 8, 1, names)
    paths = {}
    for title, picture in found.items():
        paths[title] = os.path.join(out_dir, title.replace(" ", "_") + ".png")
        pictures.save_png(paths[title], picture)
    if with_gif and top is not None:
        paths[f"z{top} animated"] = os.path.join(out_dir, f"traversal_z{top}.gif")
        pictures.save_gif(paths[f"z{top} animated"], traversal_gif_frames(model, top, 12, n_per_category=4, factor=1))
    return paths


def _fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def write_report(path: str, args, results: list[dict], num_classes: int, speed: float, elapsed: float,
                 command: str) -> None:
    """REPORT.md: setup, the metrics table, the study's questions answered with numbers, pictures."""
    base_dir = os.path.dirname(path)
    lines = [f"# JointVAE study on {args.dataset}: latent sizes and reconstruction losses", "",
             f"Grid `{args.grid}`, {len(results)} runs in {elapsed / 60:.1f} min of a {args.budget_minutes:g}-minute "
             f"budget on this machine ({speed:.0f} training steps/s measured before the runs). "
             f"{args.max_examples} training images of {args.dataset} at 32x32, batch {args.batch_size}, lr {args.lr:g}, "
             f"recipe `{args.recipe}` ({recipe_summary(args)}). Scores on "
             f"{results[0]['report']['examples'] if results else 0} test images. Written by "
             f"`scripts/study_sweep.py {command}`.", "",
             "Columns: *acc* unsupervised accuracy of the discrete code's argmax (one-to-one when K <= classes, "
             f"so at most K / classes; majority otherwise), *NMI*, *own* classes (of {num_classes}) that are the majority class of some "
             "category, *MIG* and *FVAE* on [z mean, c argmax] against the known factors, *change* fraction of "
             "traversal steps of an active z dim whose re-encoded category differs from the start (lower: z "
             "carries style, not class), *MSE* per pixel of reconstructions, *active* z dims with KL > 0.01 nats.",
             "", "| run | cont | disc | loss | steps | acc | NMI | own | MIG | FVAE | change | MSE | active | KL z | KL c |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s, rep = r["setting"], r["report"]
        own = "-" if rep["classes_with_own_category"] is None else str(rep["classes_with_own_category"])
        lines.append(
            f"| {r['name']} | {s['cont']} | {'x'.join(map(str, s['disc'])) or 'none'} | {r['loss_label']} | "
            f"{rep['step']}{'*' if r['stopped_early'] else ''} | {_fmt(rep['cluster_accuracy'])} | {_fmt(rep['nmi'])} | "
            f"{own} | {_fmt(rep['mig'])} | {_fmt(rep['factor_vae_score'])} | {_fmt(rep['class_change'])} | "
            f"{_fmt(rep['pixel_mse'], 4)} | {len(rep['active_dims'])}/{s['cont']} | {_fmt(rep['loss']['kl_cont'])} | "
            f"{_fmt(rep['loss']['kl_disc'])} |")
    lines += ["", "\\* stopped by the time budget before the planned steps.", "", "## Answers", ""]
    lines += answers(results, num_classes)
    lines += ["", "## Pictures", "",
              "Per run: the traversal grid (rows: z dims by held-out KL, grey = inactive, then c0 cycling its "
              "categories), samples per category (one row per category), and the categories x most informative "
              "z dim (a row that changes shape along it means z carries class).", ""]
    for r in results:
        lines.append(f"### {r['name']} ({r['loss_label']})")
        lines.append("")
        for title, picture in r["pictures"].items():
            lines.append(f"![{r['name']} {title}]({os.path.relpath(picture, base_dir)})")
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def answers(results: list[dict], num_classes: int) -> list[str]:
    """The study's three questions answered from the numbers of ``results``."""
    with_disc = [r for r in results if r["report"]["cluster_accuracy"] is not None]
    if not with_disc:
        return ["No run had a discrete code."]
    full = [r["name"] for r in with_disc if r["report"]["classes_with_own_category"] == num_classes]
    collapsed = [r["name"] for r in with_disc if r["report"]["nmi"] < 0.05 and r["report"]["loss"]["kl_disc"]
                 > 0.5 * sum(math.log(k) for k in r["setting"]["disc"])]
    best = max(with_disc, key=lambda r: r["report"]["cluster_accuracy"])
    out = ["1. **Which latent sizes give every class its own category?** "
           + (f"{', '.join(full)} ({len(full)} of {len(with_disc)} runs with a discrete code). " if full else
              f"None of the {len(with_disc)} runs with a discrete code did. ")
           + "By run: " + ", ".join(f"{r['name']} {r['report']['classes_with_own_category']}/{num_classes}"
                                    for r in with_disc)
           + f". Best accuracy: {best['name']} {best['report']['cluster_accuracy']:.2f} "
             f"(NMI {best['report']['nmi']:.2f})."
           + (f" Collapsed discrete codes in {', '.join(collapsed)}: KL(q(c|x) || uniform) reached most of "
              "log K, yet c's argmax is (nearly) the same for every image, so the capacity term was met "
              "with confident but uninformative codes." if collapsed else "")]
    changes = [r for r in with_disc if r["report"]["class_change"] is not None and r["report"]["nmi"] > 0.1]
    if changes:
        mean_change = float(np.mean([r["report"]["class_change"] for r in changes]))
        verdict = "mostly style" if mean_change < 0.2 else "often the class" if mean_change > 0.4 else "partly the class"
        out.append(f"2. **Do continuous dims change the class or a style?** Sweeping an active z dim over its prior "
                   f"changed the re-encoded category in {mean_change:.0%} of steps on average ({verdict}): "
                   + ", ".join(f"{r['name']} {r['report']['class_change']:.2f}" for r in changes)
                   + ". Only runs whose code carries class information (NMI > 0.1) count: elsewhere the category "
                     "hardly depends on the image, so it cannot change.")
    else:
        out.append("2. **Do continuous dims change the class or a style?** Not measurable here: no run had both an "
                   "active z dim and a discrete code carrying class information (NMI > 0.1).")
    base = results[0]
    loss_runs = [r for r in with_disc if (r["setting"]["cont"], r["setting"]["disc"]) ==
                 (base["setting"]["cont"], base["setting"]["disc"])]
    if len(loss_runs) > 1:
        by_acc = max(loss_runs, key=lambda r: r["report"]["cluster_accuracy"])
        by_mse = min(loss_runs, key=lambda r: r["report"]["pixel_mse"])
        out.append(f"3. **Which loss works?** At cont {base['setting']['cont']}, disc "
                   f"{'x'.join(map(str, base['setting']['disc']))}: "
                   + ", ".join(f"{r['loss_label']} acc {r['report']['cluster_accuracy']:.2f} / MSE "
                               f"{r['report']['pixel_mse']:.4f} / MIG {_fmt(r['report']['mig'])}" for r in loss_runs)
                   + f". Best clustering: {by_acc['loss_label']}; sharpest reconstructions: {by_mse['loss_label']}.")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="four_shapes")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--classes", default=None,
                        type=lambda text: tuple(name.strip() for name in text.split(",") if name.strip()), help="Only these classes, e.g. 0,1,2,3,4; K is their number [every class].")
    parser.add_argument("--grid", choices=("quick", "axes", "full"), default="quick")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="Wall-clock budget for all runs.")
    parser.add_argument("--max-examples", type=int, default=4000, help="Training images per run.")
    parser.add_argument("--eval-examples", type=int, default=1000, help="Test images scored per run.")
    parser.add_argument("--epochs", type=int, default=None, help="Fix the epochs per run [from the budget].")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (short runs: higher than 5e-4).")
    parser.add_argument("--recipe", choices=("ours", "original"), default="ours",
                        help="ours: the dataset's training defaults; original: the original JointVAE recipe.")
    parser.add_argument("--gamma", type=float, default=30.0)
    parser.add_argument("--cont-capacity", type=float, default=5.0, help="Final C of the continuous code, nats.")
    parser.add_argument("--disc-capacity", type=float, default=5.0, help="Final C of the discrete code (capped at log K).")
    parser.add_argument("--ramp", type=float, default=0.6, help="Fraction of the planned steps the capacities rise over.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/study", help="Folder for the run folders.")
    parser.add_argument("--report-dir", default=None, help="Folder for REPORT.md, results.json, pictures/ [--out].")
    parser.add_argument("--report-only", action="store_true",
                        help="Rewrite REPORT.md from the report folder's results.json, training nothing.")
    args = parser.parse_args(argv)
    try:
        return rewrite_report(args) if args.report_only else sweep(args)
    except JointVAEError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2


def rewrite_report(args) -> int:
    """REPORT.md again from ``results.json``, with the flags and command line of the sweep that wrote it."""
    report_dir = args.report_dir or args.out
    with open(os.path.join(report_dir, "results.json")) as f:
        stored = json.load(f)
    classes = stored.get("classes") or data.dataset_info(stored["dataset"]).class_names
    write_report(os.path.join(report_dir, "REPORT.md"), argparse.Namespace(**stored["flags"]), stored["runs"],
                 len(classes), stored["steps_per_second"], stored["seconds"], stored["command"])
    return 0


def chosen_classes(args) -> tuple[str, ...]:
    """The classes the sweep trains on, in label order: ``--classes`` or every class of the dataset."""
    return data.resolve_classes(DataConfig(name=args.dataset, data_dir=args.data_dir, classes=args.classes or ()))


def sweep(args) -> int:
    started = time.monotonic()
    budget = args.budget_minutes * 60
    info = data.dataset_info(args.dataset)
    classes = chosen_classes(args)
    settings = study_grid(args.grid, len(classes))
    report_dir = args.report_dir or args.out
    picture_dir = os.path.join(report_dir, "pictures")
    shutil.rmtree(picture_dir, ignore_errors=True)
    speed = measure_steps_per_second(args, settings[0])
    results, overhead = [], 20.0
    for index, setting in enumerate(settings):
        left = budget - (time.monotonic() - started)
        train_seconds = left / (len(settings) - index) - overhead
        if train_seconds < 5:
            print(f"budget spent: skipping {len(settings) - index} runs from {setting.name}", flush=True)
            break
        # The measured speed leaves out the per-epoch evaluation and pictures: plan on 80 % of it.
        planned = args.epochs * steps_per_epoch(args) if args.epochs else int(0.8 * speed * train_seconds)
        run = run_config(setting, args, planned)
        run_dir = os.path.join(args.out, setting.name)
        shutil.rmtree(run_dir, ignore_errors=True)
        run_started = time.monotonic()
        limit = TimeLimit(train_seconds)
        result = train(run, run_dir, verbose=0, extra_callbacks=[limit])
        trained = time.monotonic() - limit.started
        loaded = open_run(run_dir)
        model, step = loaded.model, loaded.step
        examples = load_split(run, "test", args.eval_examples)
        report = evaluate_model(model, examples, info, run_dir=run_dir, split="test", step=step, seed=args.seed,
                                batch_size=run.train.batch_size)
        shown = docs_pictures(model, examples, report, os.path.join(picture_dir, setting.name), with_gif=index == 0)
        overhead = time.monotonic() - run_started - trained
        results.append({"name": setting.name, "setting": dataclasses.asdict(setting), "loss_label": setting.loss_label,
                        "planned_steps": planned, "stopped_early": limit.stopped_early,
                        "train_seconds": trained, "report": report.to_dict(), "pictures": shown})
        print(f"[{index + 1}/{len(settings)}] {setting.name}: {result.step} steps in {trained:.0f}s, acc "
              f"{_fmt(report.cluster_accuracy)} NMI {_fmt(report.nmi)} own {report.classes_with_own_category} "
              f"MIG {_fmt(report.mig)} change {_fmt(report.class_change)} MSE {report.pixel_mse:.4f}", flush=True)
    os.makedirs(report_dir, exist_ok=True)
    with open(os.path.join(report_dir, "results.json"), "w") as f:
        json.dump({"dataset": args.dataset, "classes": classes, "grid": args.grid, "steps_per_second": speed,
                   "seconds": time.monotonic() - started, "flags": vars(args), "command": " ".join(sys.argv[1:]),
                   "runs": results}, f, indent=1)
    write_report(os.path.join(report_dir, "REPORT.md"), args, results, len(classes), speed,
                 time.monotonic() - started, " ".join(sys.argv[1:]))
    print(f"Wrote {os.path.join(report_dir, 'REPORT.md')} ({len(results)} runs, "
          f"{(time.monotonic() - started) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
