"""Pictures of what a trained model learned, drawn with its decoder.

Latent grids come from :mod:`jointvae_tf.viz.traversals`, pixels and files from :mod:`jointvae_tf.viz.pictures`.
:func:`write_pictures` writes the whole set into a folder (``RUN_DIR/pictures`` by default)::

    all_traversals.png          one row per continuous dim (sorted by held-out KL, inactive ones greyed
                                and last, labelled "z3 KL 2.10") and per discrete variable
    category_traversal_z{d}.png one row per category of c0, columns sweeping continuous dim d
                                (category_traversal_c{i}_z{d}.png for the other discrete variables)
    traversal_z{d}.gif          dim d swept back and forth over a grid of categories x random z
    reconstructions.png         held-out originals above their reconstructions
    samples.png                 random prior samples
    samples_per_category.png    one row of prior samples per category of c0
    category_members.png        one row per category of c0: held-out images the encoder put in it

:class:`ProgressPictures` draws the traversal grid whenever the held-out evaluation runs into
``pictures/progress/`` and ``pictures/training_progress.gif``, and the pictures into TensorBoard
(``logs/pictures``).
"""

from __future__ import annotations

import functools
import glob
import os
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from jointvae_tf.core import sampling
from jointvae_tf.core.config import LatentSpec
from jointvae_tf.core.model import JointVAE
from jointvae_tf.errors import ConfigError, JointVAEError
from jointvae_tf.evaluation import metrics
from jointvae_tf.evaluation.inference import (
    INFERENCE_BATCH,
    decode,
    encode_dataset,
    reconstruct,
)
from jointvae_tf.progress import Progress, tracked
from jointvae_tf.viz import pictures, traversals


def default_upscale(image_size: int) -> int:
    """Enlargement per side that makes cells about 64 pixels, so row labels stay readable."""
    return max(1, 64 // image_size)


def labelled_grid(images: np.ndarray, labels: list[str], cols: int, factor: int,
                  inactive: list[bool] | None = None) -> np.ndarray:
    """uint8 picture: ``images`` tiled in ``len(labels)`` rows of ``cols``, upscaled, labels at the left."""
    grid = pictures.upscale(pictures.image_grid(images, len(labels), cols), factor)
    return pictures.label_rows(grid, labels, padding=2 * factor, inactive=inactive)


def plain_grid(images: np.ndarray, rows: int, cols: int, factor: int) -> np.ndarray:
    """uint8 picture: ``images`` tiled in ``rows x cols`` and upscaled."""
    return pictures.upscale(pictures.image_grid(images, rows, cols), factor)


def traversal_picture(model: JointVAE, kl_cont: np.ndarray, kl_disc: np.ndarray, steps: int = 10,
                      factor: int = 2, sort: bool = True, base_categories=None) -> np.ndarray:
    """The JointVAE traversal grid: one row per continuous dim, then one per discrete variable.

    Args:
      kl_cont: ``[cont]`` mean KL per continuous dim on held-out data (nats); labels show it, dims at or
        below :data:`~jointvae_tf.evaluation.metrics.INACTIVE_KL` get a grey label.
      kl_disc: ``[n_disc]`` mean KL per discrete variable (nats).
      steps: columns; continuous rows sweep prior quantiles 5 % .. 95 %, discrete rows cycle categories.
      sort: order continuous rows by KL, largest first (inactive ones end up last); else z0, z1, ...
        (stable rows, as the training-progress GIF needs).
      base_categories: ``[n_disc]`` categories held fixed in the continuous rows (default all 0).

    Returns:
      uint8 ``[rows * (factor * (H + 2)) + 2 * factor, strip + steps * ..., C]``.
    """
    order, labels, inactive = traversal_rows(kl_cont, kl_disc, sort)
    latent, _ = traversals.all_traversals(model.config.latent, steps, dim_order=order,
                                          base_categories=base_categories)
    return labelled_grid(decode(model, latent), labels, steps, factor, inactive)


def most_changing_category(model: JointVAE, cont_dim: int, steps: int = 10) -> int:
    """The category of c0 whose decoded images change most when ``cont_dim`` sweeps its prior: the base
    that shows what a continuous dim does (a circle, say, shows no rotation at all)."""
    spec = model.config.latent
    images = decode(model, traversals.category_traversal(spec, cont_dim, steps))
    rows = images.reshape(spec.disc[0], steps, -1)
    return int(rows.std(axis=1).mean(axis=1).argmax())


def traversal_rows(kl_cont, kl_disc, sort: bool = True) -> tuple[np.ndarray, list[str], list[bool]]:
    """Rows of :func:`traversal_picture`: ``(continuous dims top to bottom, row labels, greyed rows)``.

    Args: ``kl_cont`` ``[cont]`` and ``kl_disc`` ``[n_disc]`` mean KL in nats; ``sort`` as there.
    """
    kl_cont, kl_disc = np.asarray(kl_cont, np.float64), np.asarray(kl_disc, np.float64)
    order = metrics.order_by_kl(kl_cont) if sort else np.arange(len(kl_cont))
    labels = [f"z{d} KL {kl_cont[d]:.2f}" for d in order] + [f"c{i} KL {kl:.2f}" for i, kl in enumerate(kl_disc)]
    active = metrics.active_dimensions(kl_cont)
    return order, labels, [not active[d] for d in order] + [False] * len(kl_disc)


def category_labels(disc_index: int, k: int, names: list[str] | None = None) -> list[str]:
    """Row labels ``c0=0``, ``c0=1`` ... of ``k`` categories, followed by ``names[j]`` when given."""
    return [f"c{disc_index}={j} {names[j]}".rstrip() if names else f"c{disc_index}={j}" for j in range(k)]


def held_categories(spec: LatentSpec, category: Sequence[int] | str | None, category_classes=(),
                    category_purity=()) -> list[int]:
    """The ``[n_disc]`` category row ``category`` asks to hold fixed (-1 where it leaves a variable free): ids
    for the leading variables, or a class name looked up in ``category_classes`` / ``category_purity`` (as
    :func:`~jointvae_tf.evaluation.metrics.category_classes` gives them); ConfigError (``category``) when
    an id is out of range or no category holds that class (naming the classes the categories hold)."""
    if isinstance(category, str):
        return sampling.category_of_class(category, category_classes, category_purity)
    row = [int(c) for c in ([] if category is None else category)]
    if len(row) > len(spec.disc) or any(not 0 <= c < k for c, k in zip(row, spec.disc)):
        raise ConfigError("category", f"expected up to {len(spec.disc)} ids (one per discrete variable), each "
                          f"below its count {list(spec.disc)}, or a class name, got {row}")
    return row + [sampling.RANDOM_CATEGORY] * (len(spec.disc) - len(row))


def category_traversal_picture(model: JointVAE, cont_dim: int, disc_index: int = 0, steps: int = 10,
                               factor: int = 2, names: list[str] | None = None) -> np.ndarray:
    """Rows: the categories of discrete variable ``disc_index`` (labelled ``c0=k`` and ``names[k]``); columns
    sweep continuous dim ``cont_dim`` over its prior quantiles, every other latent at its prior mode.

    If the class changes along a row, the continuous dim encodes class rather than style.
    """
    spec = model.config.latent
    latent = traversals.category_traversal(spec, cont_dim, steps, disc_index)
    labels = category_labels(disc_index, spec.disc[disc_index], names)
    return labelled_grid(decode(model, latent), labels, steps, factor)


def traversal_gif_frames(model: JointVAE, cont_dim: int, n_frames: int = 20, disc_index: int = 0,
                         n_per_category: int = 6, factor: int = 2, seed: int = 0) -> list[np.ndarray]:
    """uint8 frames of a looping GIF: a grid of categories (rows) x random z (columns) in which only
    continuous dim ``cont_dim`` moves, 5 % -> 95 % -> 5 % of its prior (see ``traversals.traversal_frames``).
    """
    spec = model.config.latent
    frames = traversals.traversal_frames(spec, cont_dim, n_frames, disc_index if spec.disc else 0,
                                         n_per_category, seed)
    rows = spec.disc[disc_index] if spec.disc else 1
    images = decode(model, frames.reshape(-1, spec.size)).reshape(n_frames, -1, *model.config.image_shape)
    return [plain_grid(frame, rows, n_per_category, factor) for frame in images]


def reconstruction_picture(model: JointVAE, images: np.ndarray, cols: int = 10, factor: int = 2) -> np.ndarray:
    """Originals ``[N, H, W, C]`` in [0, 1] above their deterministic reconstructions (z = mean, c = argmax)."""
    grid = pictures.reconstruction_grid(images, reconstruct(model, images), min(cols, len(images)))
    return pictures.upscale(grid, factor)


def samples_picture(model: JointVAE, rows: int = 8, cols: int = 8, factor: int = 2, seed: int = 0) -> np.ndarray:
    """``rows x cols`` random prior samples."""
    return plain_grid(decode(model, traversals.prior_samples(model.config.latent, rows * cols, seed)), rows, cols,
                      factor)


def samples_per_category_picture(model: JointVAE, disc_index: int = 0, n_per_category: int = 10, factor: int = 2,
                                 seed: int = 0, names: list[str] | None = None) -> np.ndarray:
    """One row per category of discrete variable ``disc_index`` (labelled ``c0=k`` and ``names[k]``), random
    z along it; a single row of prior samples without discrete variables."""
    spec = model.config.latent
    latent = traversals.samples_per_category(spec, disc_index, n_per_category, seed)
    labels = category_labels(disc_index, spec.disc[disc_index], names) if spec.disc else ["z ~ N(0, I)"]
    return labelled_grid(decode(model, latent), labels, n_per_category, factor)


def category_members_picture(images: np.ndarray, categories: np.ndarray, k: int, n_per_category: int = 10,
                             factor: int = 2, names: list[str] | None = None) -> np.ndarray:
    """uint8 picture of what each category holds: row j shows the first ``n_per_category`` of ``images``
    ``[N, H, W, C]`` (float in [0, 1]) whose category ``categories`` ``[N]`` is j, blank where fewer;
    rows labelled ``c0=j`` and, when given, the majority class ``names[j]``."""
    cells = np.ones((k, n_per_category, *images.shape[1:]), np.float32)
    for j in range(k):
        members = images[categories == j][:n_per_category]
        cells[j, :len(members)] = members
    return labelled_grid(cells.reshape(-1, *images.shape[1:]), category_labels(0, k, names), n_per_category, factor)


def write_pictures(model: JointVAE, out_dir: str, images: np.ndarray, steps: int = 10, factor: int | None = None,
                   category_dims: list[int] | None = None, gif_dims: int = 3, gif_frames: int = 20,
                   seed: int = 0, labels: np.ndarray | None = None, class_names=(),
                   category: Sequence[int] | str | None = None, verbose: int = 0) -> dict[str, str]:
    """Write every picture listed in the module docstring into ``out_dir``.

    Args:
      images: held-out images ``[N, H, W, C]`` float in [0, 1]: their KL orders the traversal rows and
        picks the dims to animate; the first 20 are reconstructed.
      steps: columns of the traversal grids. factor: upscale (default :func:`default_upscale`).
      category_dims: continuous dims for the category traversals (default: the one of largest KL).
      gif_dims: animate the ``gif_dims`` dims of largest KL (only active ones, but at least one).
      labels, class_names: ``[N]`` class ids of ``images`` and their names; when given, rows of c0's
        categories also show the majority class of the images in each category
        (:func:`~jointvae_tf.evaluation.metrics.category_classes`).
      category: the categories the traversal grid holds fixed: ids, one per leading discrete variable, or
        a class name (``"star"``, needs ``labels``): per variable the purest category holding it
        (:func:`~jointvae_tf.core.sampling.category_of_class`). Default, and for a variable holding no
        such class: the category of c0 that changes most along the grid's first dim, 0 for the others.
      verbose: 1 shows a progress bar (one step per picture, after encoding ``images``).

    Returns:
      ``{file name: path}`` of what was written.

    Raises:
      JointVAEError: a ``category_dims`` entry is not a continuous dim, a ``category`` id is out of range, or
        no category holds the class ``category`` names; checked before anything is written.
    """
    spec = model.config.latent
    bad = [int(d) for d in category_dims or () if not 0 <= int(d) < spec.cont]
    if bad:
        raise JointVAEError(f"category_dims: expected continuous dims in 0 .. {spec.cont - 1} (the model has "
                            f"{spec.cont}), got {bad[0]}")
    if category is not None and not isinstance(category, str):
        held_categories(spec, category)
    factor = factor or default_upscale(model.config.image_size)
    progress = Progress(f"Drawing pictures into {out_dir}", -(-len(images) // INFERENCE_BATCH), "step", verbose)
    summary = encode_dataset(model, images, INFERENCE_BATCH, progress)
    order = metrics.order_by_kl(summary.kl_cont)
    n_active = int(metrics.active_dimensions(summary.kl_cont).sum())
    classes, purity = metrics.category_classes(labels, summary.categories, class_names, spec.disc) \
        if spec.disc and labels is not None and len(class_names) else ((), ())
    names = list(classes[0]) if classes else None
    held = held_categories(spec, category, classes, purity)
    if spec.disc and spec.cont and held[0] == sampling.RANDOM_CATEGORY:
        held[0] = most_changing_category(model, int(order[0]), steps)
    drawers: dict[str, Callable[[], np.ndarray | list[np.ndarray]]] = {
        "all_traversals.png": lambda: traversal_picture(
            model, summary.kl_cont, summary.kl_disc, steps, factor,
            base_categories=[max(c, 0) for c in held] if spec.disc else None),
        "reconstructions.png": lambda: reconstruction_picture(model, images[:20], 10, factor),
        "samples.png": lambda: samples_picture(model, 8, 8, factor, seed),
        "samples_per_category.png": lambda: samples_per_category_picture(model, 0, 10, factor, seed, names),
    }
    if spec.disc:
        drawers["category_members.png"] = lambda: category_members_picture(
            images, summary.categories[:, 0], spec.disc[0], 10, factor, names)
    if spec.cont:
        for d in (category_dims if category_dims is not None else order[:1]):
            for i in range(len(spec.disc)):
                name = f"category_traversal_z{d}.png" if i == 0 else f"category_traversal_c{i}_z{d}.png"
                drawers[name] = functools.partial(category_traversal_picture, model, int(d), i, steps, factor,
                                                  names if i == 0 else None)
        for d in order[:min(gif_dims, max(1, n_active))]:
            drawers[f"traversal_z{d}.gif"] = functools.partial(traversal_gif_frames, model, int(d), gif_frames,
                                                               factor=factor, seed=seed)
    progress.extend(len(drawers))
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name, draw in tracked(drawers.items(), progress):
        picture = draw()
        paths[name] = os.path.join(out_dir, name)
        if name.endswith(".gif"):
            pictures.save_gif(paths[name], picture, fps=10)
        else:
            pictures.save_png(paths[name], picture)
    return paths


def pad_to_common_shape(frames: list[np.ndarray], value: int = 255) -> list[np.ndarray]:
    """Frames of differing ``[H, W, C]`` padded at the bottom and right to the largest, for one GIF."""
    height = max(f.shape[0] for f in frames)
    width = max(f.shape[1] for f in frames)
    return [np.pad(f, ((0, height - f.shape[0]), (0, width - f.shape[1]), (0, 0)), constant_values=value)
            for f in frames]


class ProgressPictures:
    """Draws what the model has learned so far, each time the held-out evaluation runs.

    :meth:`draw` writes the traversal grid (rows z0, z1, ... in a fixed order so the animation is stable)
    to ``PICTURES_DIR/progress/epoch-NNNN.png`` and sends it, reconstructions and samples to TensorBoard
    as images under ``LOG_DIR`` (tags ``traversals``, ``reconstructions``, ``samples``; step = the 0-based
    epoch); :meth:`write_animation` writes every frame so far, in epoch order, to
    ``PICTURES_DIR/training_progress.gif``. Frames of an earlier, resumed part of the run are read back
    from ``progress/``.

    Args:
      images: held-out images ``[N, H, W, C]`` float in [0, 1] (reconstructions use the first 20).
      pictures_dir, log_dir: PICTURES_DIR and LOG_DIR (a run folder's ``pictures`` and ``picture_logs``).
      steps: traversal columns. factor: upscale (default by image size).
    """

    def __init__(self, images: np.ndarray, pictures_dir: str, log_dir: str, steps: int = 10,
                 factor: int | None = None):
        self.images = images[:20]
        self.steps = steps
        self.factor = factor
        self.pictures_dir = pictures_dir
        self.progress_dir = os.path.join(self.pictures_dir, "progress")
        self.writer = tf.summary.create_file_writer(log_dir)
        os.makedirs(self.progress_dir, exist_ok=True)
        self.frames: dict[str, np.ndarray] = {}
        for path in sorted(glob.glob(os.path.join(self.progress_dir, "epoch-*.png"))):
            frame = np.asarray(Image.open(path))
            self.frames[os.path.basename(path)] = frame[:, :, None] if frame.ndim == 2 else frame

    def draw(self, model: JointVAE, kl_cont: np.ndarray, kl_disc: np.ndarray, epoch: int) -> None:
        """Draw epoch ``epoch`` (0-based) from the held-out KL per dim ``kl_cont`` ``[cont]`` and per
        variable ``kl_disc`` ``[n_disc]`` (nats)."""
        factor = self.factor or default_upscale(model.config.image_size)
        traversal = traversal_picture(model, kl_cont, kl_disc, self.steps, factor, sort=False)
        name = f"epoch-{epoch + 1:04d}.png"
        pictures.save_png(os.path.join(self.progress_dir, name), traversal)
        self.frames[name] = traversal
        # Recorded whatever another callback set; step = epoch, as Keras' TensorBoard logs epoch values.
        with tf.summary.record_if(True), self.writer.as_default(step=epoch):
            tf.summary.image("traversals", traversal[None])
            tf.summary.image("reconstructions", reconstruction_picture(model, self.images, 10, factor)[None])
            tf.summary.image("samples", samples_per_category_picture(model, 0, 10, factor)[None])
        self.writer.flush()

    def write_animation(self) -> None:
        """``training_progress.gif``: every frame drawn so far, in epoch order, 2 frames a second."""
        if self.frames:
            frames = [self.frames[key] for key in sorted(self.frames)]
            pictures.save_gif(os.path.join(self.pictures_dir, "training_progress.gif"),
                              pad_to_common_shape(frames), fps=2)
