"""The numbers of a trained model on a data split: loss terms, KL per latent, clustering and
disentanglement scores, gathered in one :class:`EvaluationReport` (JSON-ready) and printed as a table.

Clustering scores read the first discrete variable's argmax as a cluster id. Disentanglement scores
need known factors of variation (``DatasetInfo.factor_names``, e.g. four_shapes, dsprites); they are
``None`` otherwise, as are clustering scores for a model without a discrete code.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from jointvae_tf import data, run_folders
from jointvae_tf.core import latents
from jointvae_tf.core.config import RunConfig, TrainConfig
from jointvae_tf.core.model import JointVAE
from jointvae_tf.data import pixels
from jointvae_tf.evaluation import metrics
from jointvae_tf.evaluation.inference import (
    INFERENCE_BATCH,
    categories_of,
    cluster_scores,
    decode,
    encode_dataset,
    objective_terms,
    reconstruct,
)
from jointvae_tf.progress import Progress

CLASS_CHANGE_EXAMPLES = 100
CLASS_CHANGE_STEPS = 10


@dataclasses.dataclass
class EvaluationReport:
    """Everything ``jvae-tf evaluate`` measures; every information quantity is in nats per image.

    ``loss``: the training objective's terms (``model.LOSS_TERMS``, from the same ``compute_terms`` that
    training minimises) at the checkpoint's step, averaged over batches of the run's batch size:
    ``reconstruction`` of a sampled code, ``kl_cont`` and ``kl_disc`` (summed over dims / variables),
    ``disc_imbalance``, ``disc_disagreement``, the capacities and their weighted sum ``loss``.
    ``pixel_mse``: mean squared error per pixel (intensities in [0, 1]) of the deterministic reconstructions
    (z = mean, c = argmax), the one reconstruction error comparable across reconstruction losses.
    ``cluster_accuracy``: one-to-one (Hungarian) when categories <= classes, else majority
    (``cluster_mapping``); ``nmi`` and ``ari`` (adjusted Rand index) compare the partitions without a
    mapping. ``mig`` and ``factor_vae_score`` use the codes ``[z mean, c argmax]``.
    ``class_change``: fraction of traversal steps of an active continuous dim whose re-encoded category
    differs from the start's, averaged over dims (``class_change_per_dim``); lower is better.
    """

    run_dir: str
    dataset: str
    split: str
    examples: int
    step: int
    cont: int
    disc: list[int]
    loss: dict[str, float]
    pixel_mse: float
    kl_cont_per_dim: list[float]
    kl_disc_per_variable: list[float]
    active_dims: list[int]
    num_classes: int
    cluster_accuracy: float | None = None
    cluster_mapping: str | None = None
    nmi: float | None = None
    ari: float | None = None
    classes_with_own_category: int | None = None
    mig: float | None = None
    factor_vae_score: float | None = None
    class_change: float | None = None
    class_change_per_dim: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain JSON types; NaN becomes None."""
        return _json_safe(dataclasses.asdict(self))


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def class_change_per_dim(model: JointVAE, mean: np.ndarray, categories: np.ndarray, dims, steps: int) -> dict[int, float]:
    """For each continuous dim in ``dims``: sweep it over ``steps`` prior quantiles from each start code
    (``mean [M, cont]``, ``categories [M, n_disc]``, the rest held), decode, re-encode, and return the
    fraction of steps whose first-variable category differs from that of the decoded start
    (``metrics.class_change_fraction``)."""
    spec = model.config.latent
    start = categories_of(model, decode(model, latents.compose(spec, mean, categories)))
    fractions = {}
    for d in dims:
        z = np.repeat(mean, steps, axis=0)
        z[:, d] = np.tile(latents.prior_quantiles(steps), len(mean))
        swept = latents.compose(spec, z, np.repeat(categories, steps, axis=0))
        classes = categories_of(model, decode(model, swept)).reshape(len(mean), steps)
        fractions[int(d)] = metrics.class_change_fraction(start, classes)
    return fractions


def evaluate_model(model: JointVAE, examples: data.Examples, info: data.DatasetInfo, *, run_dir: str = "",
                   split: str = "test", step: int = 0, class_change_examples: int = CLASS_CHANGE_EXAMPLES,
                   class_change_steps: int = CLASS_CHANGE_STEPS, seed: int = 0,
                   batch_size: int = TrainConfig.batch_size, verbose: int = 0) -> EvaluationReport:
    """Measure ``model`` on ``examples`` (uint8 images, labels, optional factors) of dataset ``info``.

    ``step``: the checkpoint's training step (capacity schedules); ``batch_size``: the run's (the loss
    terms are measured per batch, as in training); ``seed``: of the loss terms' draws and FactorVAE's votes.
    ``verbose=1`` shows a progress bar: a step per batch encoded, scored and reconstructed, then per score.
    """
    spec = model.config.latent
    images = pixels.to_unit_range(examples.images)
    with_factors = bool(info.factor_names) and examples.factors is not None
    n_batches = sum(-(-len(images) // size) for size in (INFERENCE_BATCH, batch_size, INFERENCE_BATCH))
    progress = Progress(f"Evaluating {len(images)} {split} images", n_batches + 1 + 3 * with_factors, "step",
                        verbose)
    summary = encode_dataset(model, images, INFERENCE_BATCH, progress)
    active = np.flatnonzero(metrics.active_dimensions(summary.kl_cont))
    report = EvaluationReport(
        run_dir=run_dir, dataset=info.name, split=split, examples=len(images), step=step, cont=spec.cont,
        disc=list(spec.disc),
        loss=objective_terms(model, images, step, seed, batch_size, progress),
        pixel_mse=float(np.mean(np.square(reconstruct(model, images, INFERENCE_BATCH, progress) - images))),
        kl_cont_per_dim=summary.kl_cont.tolist(), kl_disc_per_variable=summary.kl_disc.tolist(),
        active_dims=active.tolist(), num_classes=len(examples.class_names) or int(examples.labels.max()) + 1)
    if spec.disc:
        clusters, k = summary.categories[:, 0], spec.disc[0]
        scores = cluster_scores(examples.labels, clusters, k)
        report.cluster_accuracy = scores["cluster_accuracy"]
        report.cluster_mapping = "one_to_one" if k <= report.num_classes else "majority"
        report.nmi = scores["nmi"]
        report.ari = scores["ari"]
        report.classes_with_own_category = scores["classes_with_own_category"]
    progress.advance()
    if with_factors:
        codes = np.concatenate([summary.mean, summary.categories.astype(np.float32)], axis=1)
        if codes.shape[1]:
            report.mig = metrics.mutual_info_gap(codes, examples.factors)
            progress.advance()
            report.factor_vae_score = metrics.factor_vae_score(codes, examples.factors, seed=seed)
            progress.advance()
        if spec.disc and active.size:
            m = min(class_change_examples, len(images))
            per_dim = class_change_per_dim(model, summary.mean[:m], summary.categories[:m], active,
                                           class_change_steps)
            report.class_change_per_dim = {f"z{d}": v for d, v in per_dim.items()}
            report.class_change = float(np.mean(list(per_dim.values())))
    progress.finish()
    return report


def load_split(run: RunConfig, split: str, max_examples: int | None, classes: tuple[str, ...] = (),
               download: bool = True) -> data.Examples:
    """Up to ``max_examples`` images of ``split`` of the run's dataset, at the model's size; only ``classes``
    of the run's classes when given; ``download`` as in :func:`~jointvae_tf.data.load_examples`."""
    data_config = dataclasses.replace(data.narrow_classes(run.data, classes), max_examples=max_examples)
    return data.load_examples(data_config, split, run.model.image_size, run.model.channels, seed=run.train.seed,
                              download=download)


def evaluate_run(run_dir: str, split: str = "test", max_examples: int | None = None,
                 class_change_examples: int = CLASS_CHANGE_EXAMPLES, verbose: int = 0,
                 classes: tuple[str, ...] = ()) -> EvaluationReport:
    """Load the run folder's latest checkpoint and measure it on ``split`` of the run's dataset, only on
    ``classes`` of the run's classes when given (``verbose=1``: with a progress bar)."""
    loaded = run_folders.open_run(run_dir)
    run = loaded.config
    examples = load_split(run, split, max_examples, classes)
    return evaluate_model(loaded.model, examples, data.dataset_info(run.data.name), run_dir=run_dir, split=split,
                          step=loaded.step, class_change_examples=class_change_examples, seed=run.train.seed,
                          batch_size=run.train.batch_size, verbose=verbose)


def _number(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_report(report: EvaluationReport) -> str:
    """A readable table of the report, one quantity per line."""
    disc = "x".join(map(str, report.disc)) or "none"
    lines = [f"{report.run_dir or 'model'}: {report.dataset} {report.split} split, {report.examples} images, "
             f"step {report.step}, latent cont {report.cont} disc {disc}", ""]
    rows = [(name.replace("_", " "), _number(value)) for name, value in report.loss.items()]
    rows.append(("pixel MSE (intensities 0..1)", _number(report.pixel_mse, 5)))
    rows.append(("", ""))
    rows += [(f"KL z{d}" + ("" if d in report.active_dims else " (inactive)"), _number(kl))
             for d, kl in enumerate(report.kl_cont_per_dim)]
    rows += [(f"KL c{i}", _number(kl)) for i, kl in enumerate(report.kl_disc_per_variable)]
    rows.append(("", ""))
    mapping = f" ({report.cluster_mapping.replace('_', '-')})" if report.cluster_mapping else ""
    own = "-" if report.classes_with_own_category is None else \
        f"{report.classes_with_own_category} of {report.num_classes}"
    rows += [(f"cluster accuracy{mapping}", _number(report.cluster_accuracy)), ("NMI", _number(report.nmi)),
             ("ARI", _number(report.ari)),
             ("classes with own category", own), ("MIG", _number(report.mig)),
             ("FactorVAE score", _number(report.factor_vae_score)),
             ("class change under traversals", _number(report.class_change))]
    rows += [(f"  class change {dim}", _number(v)) for dim, v in report.class_change_per_dim.items()]
    width = max(len(name) for name, _ in rows)
    lines += [f"{name:<{width}}  {value}".rstrip() for name, value in rows]
    return "\n".join(lines) + "\n\nKL, loss terms and reconstruction in nats per image."
