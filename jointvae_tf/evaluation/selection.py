"""Label-free model selection: how good is a trained model's discrete code, without labels?

Users have no labels, so they cannot compute cluster accuracy. Three things can be measured on
unlabeled held-out images ``[N, H, W, C]`` in [0, 1], given as they come, before the normalisation of the
model's data pipeline (``DataConfig.normalize``): each image and each moved view of it is normalised as
new input would be, so a move the normalisation undoes (a shift, under ``box``) costs nothing.

- ``agreement``: the fraction of (image, augmented view) pairs whose discrete code (the argmax category
  of every discrete variable) is unchanged when the image is shifted, rotated and scaled a little
  (:class:`Augmentation`). A class does not change under such small moves, so a code that carries the
  class keeps its category; a code that carries position, angle or noise does not. In [0, 1].
- ``balance``: how evenly the categories are used, the entropy of the histogram of argmax categories
  divided by log K, averaged over the discrete variables. 0 when every image gets the same category,
  1 when all K are used equally. In [0, 1].
- ``elbo``: the held-out evidence lower bound, nats per image, estimated with the decoder at the
  posterior mode (z = mean, c = argmax) instead of averaged over samples, so slightly optimistic:
  -(reconstruction + KL_cont + KL_disc). Higher is a better fit. Its scale
  depends on the reconstruction loss, image size and normalisation, so it compares models of one recipe
  family on the same images only.

- ``used``: the share of categories in use, the smallest over the discrete variables; a category is in use
  when it holds at least a tenth of an even share (N / K) of the images. Below one half
  (:data:`COLLAPSED_BELOW`) the code has collapsed: dead or merged categories, whatever the score says.

The combined ``score`` is ``agreement * balance``: each part alone is fooled by a degenerate code (a
code that ignores the image agrees perfectly with itself; a code driven by pixel noise is perfectly
balanced), the product is high only for a code that is both stable and used. The ELBO is reported
beside it, not folded in, because it ranks the fit of the images, which the capacity schedule trades
against the code, and its units differ between recipes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import tensorflow as tf

from jointvae_tf import data
from jointvae_tf.core.config import NORMALIZATIONS, RunConfig
from jointvae_tf.core.model import JointVAE
from jointvae_tf.data.normalize import normalize_images
from jointvae_tf.data.pixels import to_uint8, to_unit_range
from jointvae_tf.errors import JointVAEError
from jointvae_tf.evaluation.inference import EncodedData, all_categories_of, encode_dataset

Categorize = Callable[[np.ndarray], np.ndarray]
"""Images ``[N, H, W, C]`` float in [0, 1] -> categories ``[N, n_disc]`` int (argmax of each variable)."""


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Small random moves that must not change an image's class.

    ``shift``: largest shift along each axis, fraction of the image side; ``degrees``: largest rotation
    either way; ``scale``: zoom factor drawn in [1 - scale, 1 + scale]; ``views``: augmented views per
    image. Pixels from outside the frame repeat the nearest edge pixel (grounds need not be black).
    """

    shift: float = 0.06
    degrees: float = 10.0
    scale: float = 0.1
    views: int = 4

    def __post_init__(self):
        if not 0 <= self.shift < 0.5:
            raise JointVAEError(f"augmentation shift: expected a fraction in [0, 0.5), got {self.shift}")
        if not 0 <= self.degrees <= 180:
            raise JointVAEError(f"augmentation degrees: expected 0-180, got {self.degrees}")
        if not 0 <= self.scale < 1:
            raise JointVAEError(f"augmentation scale: expected a fraction in [0, 1), got {self.scale}")
        if self.views < 1:
            raise JointVAEError(f"augmentation views: expected an integer >= 1, got {self.views}")

    def transforms(self, count: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` random moves as projective transforms ``[count, 8]`` float32 (TensorFlow's layout:
        each maps an output pixel (x, y) to the input pixel it reads)."""
        angles = np.deg2rad(rng.uniform(-self.degrees, self.degrees, count))
        zooms = rng.uniform(1 - self.scale, 1 + self.scale, count)
        shifts = rng.uniform(-self.shift, self.shift, (count, 2)) * [width, height]
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
        cos, sin = np.cos(angles) / zooms, np.sin(angles) / zooms
        # output = zoom R(angle) (input - centre) + centre + shift, so
        # input = M (output - centre - shift) + centre with M = R(-angle) / zoom.
        inverse = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)  # [count, 2, 2]
        offset = centre - np.einsum("nij,nj->ni", inverse, centre + shifts)
        return np.concatenate([inverse[:, 0], offset[:, :1], inverse[:, 1], offset[:, 1:], np.zeros((count, 2))],
                              1).astype(np.float32)

    def apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Each of ``images`` ``[N, H, W, C]`` moved by its own random transform, bilinear, same shape."""
        _, height, width, _ = images.shape
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=tf.convert_to_tensor(images, tf.float32),
            transforms=self.transforms(len(images), height, width, rng), output_shape=[height, width],
            fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST").numpy()


def normalized(images: np.ndarray, normalize: str) -> np.ndarray:
    """``images`` ``[N, H, W, C]`` float in [0, 1] after the pipeline's normalisation ``normalize`` (a name
    of ``config.NORMALIZATIONS``; "none" returns them unchanged), float32 in [0, 1]."""
    if normalize not in NORMALIZATIONS:
        raise JointVAEError(f"normalize: expected one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")
    if normalize == "none":
        return images
    return to_unit_range(normalize_images(to_uint8(images), normalize))


def moved_views(images: np.ndarray, augmentation: Augmentation = Augmentation(), seed: int = 0,
                normalize: str = "none") -> list[np.ndarray]:
    """``augmentation.views`` moved views of ``images`` ``[N, H, W, C]`` (float in [0, 1], before the
    normalisation ``normalize``), drawn from ``default_rng(seed)`` and normalised: one ``[N, H, W, C]`` array
    each, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    return [normalized(augmentation.apply(images, rng), normalize) for _ in range(augmentation.views)]


def code_agreement(categorize: Categorize, images: np.ndarray, augmentation: Augmentation = Augmentation(),
                   seed: int = 0, categories: np.ndarray | None = None, normalize: str = "none") -> float:
    """Fraction of (image, view) pairs whose categories ``[n_disc]`` all equal those of the image itself.

    ``images``: ``[N, H, W, C]`` float in [0, 1], before normalisation; the views are :func:`moved_views`'.
    ``categories``: ``categorize(normalized(images, normalize))`` when already known.
    """
    original = categorize(normalized(images, normalize)) if categories is None else categories
    return _agreement([categorize(view) for view in moved_views(images, augmentation, seed, normalize)], original)


def _agreement(view_categories: list[np.ndarray], categories: np.ndarray) -> float:
    """Fraction of (image, view) pairs whose categories (``[N, n_disc]`` each) equal the image's."""
    return float(np.mean([np.all(view == categories, axis=1) for view in view_categories]))


def category_balance(categories: np.ndarray, sizes: tuple[int, ...]) -> float:
    """Mean over discrete variables of H(histogram of categories) / log K, in [0, 1].

    ``categories``: ``[N, n_disc]`` int; ``sizes``: K of each variable (``LatentSpec.disc``). A variable
    with K = 1 carries nothing and counts as 0.
    """
    if categories.ndim != 2 or categories.shape[1] != len(sizes) or not sizes:
        raise JointVAEError(f"categories {categories.shape}: expected [N, {len(sizes)}] for discrete sizes {sizes}")
    parts = []
    for column, k in zip(categories.T, sizes):
        counts = np.bincount(column, minlength=k)
        p = counts[counts > 0] / len(column)
        parts.append(float(-(p * np.log(p)).sum() / math.log(k)) if k > 1 else 0.0)
    return float(np.mean(parts))


def used_share(categories: np.ndarray, sizes: tuple[int, ...], min_share: float = 0.1) -> float:
    """Smallest over discrete variables of the fraction of its K categories in use, in [0, 1].

    ``categories``: ``[N, n_disc]`` int; ``sizes``: K of each variable. A category is in use when it holds
    at least ``min_share * N / K`` images (a tenth of an even share by default), so a few stray images do
    not keep a dead category alive. With fewer than :data:`IMAGES_PER_CATEGORY` images per category a
    variable's use cannot be told from chance and counts as whole (1.0).
    """
    if categories.ndim != 2 or categories.shape[1] != len(sizes) or not sizes:
        raise JointVAEError(f"categories {categories.shape}: expected [N, {len(sizes)}] for discrete sizes {sizes}")
    shares = [float(np.mean(np.bincount(column, minlength=k) >= max(1.0, min_share * len(column) / k)))
              if len(column) >= IMAGES_PER_CATEGORY * k else 1.0 for column, k in zip(categories.T, sizes)]
    return min(shares)


COLLAPSED_BELOW = 0.5
IMAGES_PER_CATEGORY = 10
"""A code using fewer than ``COLLAPSED_BELOW`` of its categories (:func:`used_share`) has collapsed; that is
told only on at least ``IMAGES_PER_CATEGORY`` images per category."""


def held_out_elbo(encoded: EncodedData) -> float:
    """-(reconstruction + sum KL_cont + sum KL_disc) of :func:`encode_dataset`'s summary, nats per image."""
    return -(encoded.reconstruction + float(np.sum(encoded.kl_cont)) + float(np.sum(encoded.kl_disc)))


@dataclasses.dataclass(frozen=True)
class SelectionScore:
    """The parts of the label-free score (see the module docstring) and their combination."""

    agreement: float
    balance: float
    elbo: float
    used: float = 1.0

    @property
    def collapsed(self) -> bool:
        """Fewer than :data:`COLLAPSED_BELOW` of some variable's categories are in use."""
        return self.used < COLLAPSED_BELOW

    @property
    def score(self) -> float:
        """``agreement * balance`` in [0, 1]: high only for a code that is both stable and used."""
        return self.agreement * self.balance

    def to_dict(self) -> dict[str, float]:
        return {"score": self.score, **dataclasses.asdict(self)}


def unlabeled_validation(run: RunConfig, limit: int = 1000) -> np.ndarray:
    """The first ``limit`` validation images of ``run``'s data (split by ``run.train.seed``) as given, before
    the run's normalisation: ``[N, H, W, C]`` float in [0, 1], what :func:`selection_score` takes."""
    raw = dataclasses.replace(run.data, normalize="none")
    examples = data.load_examples(raw, "validation", run.model.image_size, run.model.channels, seed=run.train.seed)
    return to_unit_range(examples.images[:limit])


def model_categorizer(model: JointVAE, batch_size: int = 256) -> Categorize:
    """The argmax categories ``[N, n_disc]`` that ``model`` gives images ``[N, H, W, C]`` in [0, 1]."""
    return lambda images: all_categories_of(model, images, batch_size)


@dataclasses.dataclass(frozen=True)
class ScoringImages:
    """What the label-free score looks at, prepared once for any number of models or training steps:
    ``images``, the unlabeled held-out images after the pipeline's normalisation, and ``views``, their
    moved views (:func:`moved_views`), normalised too; each ``[N, H, W, C]`` float32 in [0, 1]."""

    images: np.ndarray
    views: tuple[np.ndarray, ...]

    @classmethod
    def prepare(cls, images: np.ndarray, augmentation: Augmentation = Augmentation(), seed: int = 0,
                normalize: str = "none") -> "ScoringImages":
        """From ``images`` ``[N, H, W, C]`` float in [0, 1] as given, before the normalisation ``normalize``
        (a name of ``config.NORMALIZATIONS``); the views are drawn from ``default_rng(seed)``."""
        return cls(normalized(images, normalize), tuple(moved_views(images, augmentation, seed, normalize)))


def selection_score(model: JointVAE, images: np.ndarray, augmentation: Augmentation = Augmentation(),
                    seed: int = 0, batch_size: int = 256, normalize: str = "none") -> SelectionScore:
    """The label-free score of ``model`` on unlabeled held-out ``images`` ``[N, H, W, C]`` float in [0, 1],
    given before the normalisation ``normalize`` of the model's data pipeline (``DataConfig.normalize``).

    Costs ``1 + augmentation.views`` passes over the images. Deterministic for ``seed``.
    """
    return scored_encoding(model, ScoringImages.prepare(images, augmentation, seed, normalize), batch_size)[0]


def scored_encoding(model: JointVAE, scoring: ScoringImages, batch_size: int = 256,
                    ) -> tuple[SelectionScore, EncodedData]:
    """:func:`selection_score` on prepared ``scoring`` images and the encoding of their normalised images
    (their categories, KL terms and reconstruction loss), for callers that need both. The views go through
    the encoder only."""
    sizes = tuple(model.config.latent.disc)
    if not sizes:
        raise JointVAEError("selection score: the model has no discrete variable (model.latent.disc); the score rates "
                            "its categories")
    if scoring.images.ndim != 4 or scoring.images.shape[1:] != model.config.image_shape:
        height, width, channels = model.config.image_shape
        raise JointVAEError(f"selection images {scoring.images.shape}: expected [N, {height}, {width}, {channels}] "
                            f"for this model")
    encoded = encode_dataset(model, scoring.images, batch_size)
    agreement = _agreement([all_categories_of(model, view, batch_size) for view in scoring.views], encoded.categories)
    score = SelectionScore(agreement, category_balance(encoded.categories, sizes), held_out_elbo(encoded),
                           used_share(encoded.categories, sizes))
    return score, encoded
