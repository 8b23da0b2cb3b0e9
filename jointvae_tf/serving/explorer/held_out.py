"""What held-out images say about a model's latents: KL per latent (which orders the explorer's sliders)
and the majority class of each category (which names them), measured through the ``encode`` signature."""

from __future__ import annotations

import dataclasses

import numpy as np

from jointvae_tf.core import latents
from jointvae_tf.core.config import LatentSpec, RunConfig
from jointvae_tf.errors import JointVAEError
from jointvae_tf.evaluation import metrics
from jointvae_tf.serving.predictor import Predictor

ENCODE_BATCH = 256
"""Images per ``encode`` request."""


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """What held-out images say about the latents.

    ``kl_cont``: ``[cont]`` mean KL per continuous dim (nats), ``kl_disc``: ``[n_disc]`` per discrete
    variable, both None when no held-out images could be read; ``category_names``: per discrete
    variable, the majority class of the images in each category ("" when unknown or unused), with
    ``category_purity``, that class's share of them (empty when unknown);
    ``description``: which images, or why there are none.
    """

    kl_cont: tuple[float, ...] | None
    kl_disc: tuple[float, ...] | None
    category_names: tuple[tuple[str, ...], ...]
    description: str
    category_purity: tuple[tuple[float, ...], ...] = ()

    @classmethod
    def unknown(cls, spec: LatentSpec, reason: str) -> "HeldOut":
        return cls(None, None, tuple(("",) * k for k in spec.disc), reason)


def measure_held_out(predictor: Predictor, spec: LatentSpec, images: np.ndarray, labels=None, class_names=(),
                     description: str = "") -> HeldOut:
    """KL per latent and majority class per category of held-out ``images`` (uint8 ``[N, H, W, C]``),
    encoded through ``predictor``'s ``encode`` signature; ``labels`` ``[N]`` int ids of ``class_names``."""
    parts = [predictor.predict({"images": images[i:i + ENCODE_BATCH].astype(np.float32) / 255.0}, "encode")
             for i in range(0, len(images), ENCODE_BATCH)]
    joined = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    kl_cont = latents.kl_normal(joined["z_mean"], joined["z_log_var"]).numpy().mean(axis=0)
    probabilities = np.split(joined["probabilities"], np.cumsum(spec.disc)[:-1], axis=1) if spec.disc else []
    kl_disc = [float(np.mean(latents.kl_categorical_uniform(np.log(np.maximum(p, 1e-30))).numpy()))
               for p in probabilities]
    names, purity = metrics.category_classes(labels, joined["categories"], class_names, spec.disc) \
        if labels is not None and len(class_names) else (tuple(("",) * k for k in spec.disc), ())
    return HeldOut(tuple(float(v) for v in kl_cont), tuple(kl_disc), names, description, purity)


def held_out_of_run(predictor: Predictor, spec: LatentSpec, run: RunConfig | None, run_dir: str | None,
                    max_examples: int) -> HeldOut:
    """Up to ``max_examples`` validation images of the run ``run`` (its config, from folder ``run_dir``)
    measured through ``predictor``; unknown (with the reason) when there is no run folder or its data
    cannot be read here (nothing is downloaded)."""
    if run is None:
        return HeldOut.unknown(spec, "KL unknown: no run folder (pass RUN_DIR to order the sliders by KL)")
    from jointvae_tf.evaluation.report import load_split

    try:
        examples = load_split(run, "validation", max_examples, download=False)
    except JointVAEError as error:
        return HeldOut.unknown(spec, f"KL unknown: the validation images of {run_dir} cannot be read ({error})")
    return measure_held_out(predictor, spec, examples.images, examples.labels, examples.class_names,
                            f"{len(examples.images)} validation images of {run.data.name}")
