"""SavedModel export for TensorFlow Serving: ``saved_models/NAME/VERSION/`` and its signatures.

Layout (what TF-Serving's file-system source watches)::

    saved_models/NAME/VERSION/saved_model.pb, variables/      the SavedModel
    saved_models/NAME/VERSION/assets.extra/jointvae_export.json   ExportConfig (TF-Serving ignores it)
    saved_models/NAME/.tmp-VERSION-PID@HOST.xxxx/   an export being written (not an integer: never served);
                                                    removed by the next export once process PID is gone

Signatures (N is the batch dimension; every input has it, so TF-Serving's request batching and its
REST row format work for all of them):

- ``serving_default`` (decode): ``z`` float32 [N, cont], ``c`` float32 [N, sum(disc)] one-hot ->
  ``images`` float32 [N, H, W, C] in [0, 1]. A part of width 0 (no cont / no disc) is still an input.
- ``sample``: ``seed`` int64 [N] (one per image), ``category`` int32 [N, n_disc] (-1 = random) ->
  ``images``, ``z``, ``c``, ``categories`` int32 [N, n_disc], ``png_bytes`` string [N] (PNG files),
  ``row_error`` string [N] ("" or why the row was refused: it then has a blank image).
- ``encode``: ``images`` float32 [N, H, W, C], prepared exactly as the run's training images, in [0, 1]
  -> ``z_mean``, ``z_log_var`` [N, cont], ``probabilities`` [N, sum(disc)] (softmax per variable,
  concatenated), ``categories`` int32 [N, n_disc] (argmax).
- ``encode_image``: ``images_bytes`` string [N], image files (PNG, JPEG or BMP; any size up to
  ``MAX_IMAGE_PIXELS``, grey or colour, 8 or 16 bits, either polarity, transparency shown over white;
  a BMP layout TensorFlow reads otherwise than Pillow is refused) -> the outputs of ``encode`` and ``input_images`` float32
  [N, H, W, C], what the encoder read. The run's whole preparation runs in the graph
  (:func:`~jointvae_tf.data.preparation.prepare_in_graph`: decode, grey or colour, fit to the side,
  polarity and normalisation, halving), so the code equals that of the package's own pipeline followed by
  ``encode`` (:func:`~jointvae_tf.data.preparation.prepare_file`). Over REST each file is
  ``{"b64": "..."}``, as TF-Serving decodes for string inputs.
- ``encode_pixels``: ``pixels`` uint8 [N, h, w, c] (c = 1 or 3; any h, w) -> as ``encode_image``, the
  preparation of :func:`~jointvae_tf.data.preparation.prepare_pixels`.
- ``category_of_class``: ``class_name`` string [N] -> ``category`` int32 [N, n_disc], the row of ``sample``'s
  ``category`` asking for that class (per variable its purest category holding it, -1 where none does),
  and ``row_error`` string [N] ("" or: no category holds that class).
- ``encode``, ``encode_image``, ``encode_pixels`` and ``sample`` also answer ``category_names`` string
  [N, n_disc], the class each category holds ("" where unknown; see ``ExportConfig.category_classes``).
- ``traverse`` (only when cont > 0): ``dim`` int32 [N], ``category`` int32 [N, n_disc] -> ``images``
  [N, STEPS, H, W, C], ``png_bytes`` string [N, STEPS] and ``row_error`` string [N]; dim ``dim[n]`` sweeps
  the prior's quantiles 0.05 .. 0.95 in STEPS (fixed at export) steps, other dims at 0.

String outputs that hold binary data end in ``_bytes``: TF-Serving's REST API base64-encodes exactly those
(``{"b64": ...}``) and writes any other string raw into the JSON. No function is XLA-compiled: TF-Serving
disables XLA unless started with ``--xla_cpu_compilation_enabled`` and then fails every such request.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import tempfile
import warnings

import keras
import tensorflow as tf

from jointvae_tf import run_folders
from jointvae_tf.core import sampling
from jointvae_tf.core.config import LatentSpec, RunConfig, dataclass_from_dict
from jointvae_tf.core.latents import prior_quantiles, split_encoding
from jointvae_tf.core.model import JointVAE
from jointvae_tf.data import pixels
from jointvae_tf.data.loading import preparation_of
from jointvae_tf.data.preparation import Preparation, decode_in_graph, prepare_in_graph
from jointvae_tf.errors import ConfigError, JointVAEError, JointVAEWarning, write_failure
from jointvae_tf.evaluation import metrics
from jointvae_tf.evaluation.inference import encode_dataset
from jointvae_tf.evaluation.report import load_split

EXPORT_CONFIG = os.path.join("assets.extra", "jointvae_export.json")
DEFAULT_TRAVERSE_STEPS = 10
MAX_VERSION = 2 ** 63 - 1
"""Highest version: TF-Serving reads version folder names as int64 and cannot serve any above."""
SIGNATURES = ("serving_default", "sample", "encode", "encode_image", "encode_pixels", "category_of_class")
"""The signatures of every export; ``traverse`` too when the model has continuous dims."""
CLASS_MAP_EXAMPLES = 1000
"""Labelled validation images that name the categories at export."""
_VERSION = re.compile(r"^[0-9]+$")
_TEMPORARY = re.compile(r"^\.tmp-[0-9]+-(?P<pid>[0-9]+)@(?P<host>.+)\.[^.]+$")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What an export holds, stored as ``assets.extra/jointvae_export.json`` in the version folder.

    ``class_names``: the training dataset's label names (empty when unknown); JointVAE's categories are
    learnt without labels, so category ``i`` is not class ``i``. ``run_dir`` / ``step``: the run folder
    and checkpoint step it came from. ``traverse_steps``: STEPS of the ``traverse`` signature.
    ``preparation``: how the run's images were prepared, which ``encode_image`` / ``encode_pixels`` apply
    (None in an export written before it was recorded). ``category_classes``: per discrete variable, the
    class each category holds, the majority label of the run's labelled validation images encoded into it
    ("" where none fell), with ``category_purity``, that class's share of them; both empty when the
    training data had no labels or could not be read at export time (an export never downloads it).
    """

    latent: LatentSpec
    image_shape: tuple[int, int, int]
    dataset: str
    class_names: tuple[str, ...]
    run_dir: str
    step: int
    traverse_steps: int
    signatures: tuple[str, ...]
    preparation: Preparation | None = None
    category_classes: tuple[tuple[str, ...], ...] = ()
    category_purity: tuple[tuple[float, ...], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "category_classes", tuple(tuple(row) for row in self.category_classes))
        object.__setattr__(self, "category_purity", tuple(tuple(row) for row in self.category_purity))

    def save(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(dataclasses.asdict(self), f, indent=2)

    @classmethod
    def load(cls, export_dir: str) -> "ExportConfig":
        """Read the config of the SavedModel in ``export_dir`` (a version folder)."""
        path = os.path.join(export_dir, EXPORT_CONFIG)
        try:
            with open(path) as f:
                values = json.load(f)
            if isinstance(values.get("preparation"), dict):
                values["preparation"] = Preparation(**values["preparation"])
            return dataclass_from_dict(cls, values)
        except TypeError as error:
            raise JointVAEError(f"{path}: preparation: {error}; expected the file written by "
                                "`jvae-tf export`") from None
        except FileNotFoundError:
            raise JointVAEError(f"{export_dir}: no {EXPORT_CONFIG}; expected a version folder written by "
                                "`jvae-tf export`") from None
        except ConfigError as error:
            raise JointVAEError(f"{path}: {error}; expected the file written by `jvae-tf export`") from None


def list_versions(model_dir: str) -> list[int]:
    """Versions in ``model_dir`` as TF-Serving sees them: integer-named folders, ascending.

    Folders being written (``.tmp-...``) are not integers and so are never listed or served; nor are
    integers beyond int64 (above :data:`MAX_VERSION`), which TF-Serving cannot read.
    """
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir) if _VERSION.match(name) and
                  int(name) <= MAX_VERSION and os.path.isdir(os.path.join(model_dir, name)))


def resolve_export_dir(path: str) -> str:
    """A version folder: ``path`` itself when it holds a SavedModel, else its highest version."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = list_versions(path)
    if not versions:
        raise ConfigError("path", f"{path}: no SavedModel here; expected saved_models/NAME or "
                          "saved_models/NAME/VERSION written by `jvae-tf export`")
    return os.path.join(path, str(versions[-1]))


def category_classes(model: JointVAE, run: RunConfig, max_examples: int = CLASS_MAP_EXAMPLES):
    """``(classes, purity)`` of ``ExportConfig``: per discrete variable, the majority class of up to
    ``max_examples`` labelled validation images of ``run`` in each category and its share; ``((), ())``
    when the images have no labels, or (with a :class:`JointVAEWarning` saying why) cannot be read here. An
    export never downloads: a TFDS dataset that is not on this machine leaves the categories unnamed."""
    try:
        examples = load_split(run, "validation", max_examples, download=False)
    except JointVAEError as error:
        warnings.warn(f"the export names no category, as the run's labelled validation images cannot be read "
                      f"({error}); fetch them (training or evaluating the run downloads a TFDS dataset) and "
                      "export again", JointVAEWarning, stacklevel=2)
        return (), ()
    names = examples.class_names
    if not names or not len(examples.images) or examples.labels is None:
        return (), ()
    categories = encode_dataset(model, pixels.to_unit_range(examples.images)).categories
    return metrics.category_classes(examples.labels, categories, names, model.config.latent.disc)


def build_archive(model: JointVAE, traverse_steps: int = DEFAULT_TRAVERSE_STEPS,
                  preparation: Preparation | None = None, category_classes=(), category_purity=()
                  ) -> keras.export.ExportArchive:
    """An ExportArchive of ``model`` with the signatures in this module's docstring (graph mode, no XLA);
    ``encode_image`` / ``encode_pixels`` prepare images by ``preparation`` (None: fitted to the model's
    size, not normalised); ``category_classes`` / ``category_purity`` as in :class:`ExportConfig`."""
    spec = model.config.latent
    height, width, channels = model.config.image_shape
    preparation = preparation or Preparation(height, channels)
    names_of, category_of_class = _class_tables(spec, category_classes, category_purity)
    n_disc = len(spec.disc)
    decode = tf.function(model.decode, jit_compile=False)
    encoder = tf.function(model.encoder, jit_compile=False)

    def decode_signature(z, c):
        return {"images": decode(tf.concat([z, c], axis=-1))}

    def sample_signature(seed, category):
        drawn = sampling.sample(decode, spec, seed, category)
        return {**drawn, "category_names": names_of(drawn["categories"])}

    def encode_signature(images):
        encoding = split_encoding(encoder(images), spec)
        probabilities = [tf.nn.softmax(logits) for logits in encoding.logits]
        categories = [tf.argmax(logits, axis=-1, output_type=tf.int32) for logits in encoding.logits]
        batch = tf.shape(images)[0]
        categories = tf.stack(categories, -1) if n_disc else tf.zeros([batch, 0], tf.int32)
        return {"z_mean": encoding.mean, "z_log_var": encoding.log_var,
                "probabilities": tf.concat(probabilities, -1) if n_disc else tf.zeros([batch, 0]),
                "categories": categories, "category_names": names_of(categories)}

    def encode_prepared(prepare, inputs):
        prepared = tf.map_fn(prepare, inputs, fn_output_signature=tf.TensorSpec([height, width, channels], tf.uint8))
        images = tf.cast(prepared, tf.float32) / 255.0
        return {**encode_signature(images), "input_images": images}

    def encode_image_signature(images_bytes):
        return encode_prepared(lambda data: prepare_in_graph(decode_in_graph(data, channels), preparation),
                               images_bytes)

    def encode_pixels_signature(pixels):
        bands = tf.shape(pixels)[-1]
        check = tf.debugging.Assert(tf.logical_or(bands == 1, bands == 3), ["pixels: expected 1 (grey) or 3 "
                                                                            "(RGB) channels, got", bands])
        with tf.control_dependencies([check]):
            return encode_prepared(lambda image: prepare_in_graph(image, preparation, from_file=False),
                                   tf.identity(pixels))

    def traverse_signature(dim, category):
        return sampling.traverse(decode, spec, dim, category, prior_quantiles(traverse_steps))

    category = tf.TensorSpec([None, n_disc], tf.int32, name="category")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", decode_signature, [
        tf.TensorSpec([None, spec.cont], tf.float32, name="z"),
        tf.TensorSpec([None, spec.disc_size], tf.float32, name="c")])
    archive.add_endpoint("sample", sample_signature, [tf.TensorSpec([None], tf.int64, name="seed"), category])
    archive.add_endpoint("encode", encode_signature, [
        tf.TensorSpec([None, height, width, channels], tf.float32, name="images")])
    archive.add_endpoint("encode_image", encode_image_signature,
                         [tf.TensorSpec([None], tf.string, name="images_bytes")])
    archive.add_endpoint("encode_pixels", encode_pixels_signature, [
        tf.TensorSpec([None, None, None, None], tf.uint8, name="pixels")])
    archive.add_endpoint("category_of_class", category_of_class, [tf.TensorSpec([None], tf.string, name="class_name")])
    if spec.cont:
        archive.add_endpoint("traverse", traverse_signature, [tf.TensorSpec([None], tf.int32, name="dim"), category])
    return archive


def export_run(run_dir: str, out: str = "saved_models", name: str = "jointvae", version: int | None = None,
               traverse_steps: int = DEFAULT_TRAVERSE_STEPS) -> str:
    """Export the latest checkpoint of ``run_dir`` to ``out/name/version``; returns that folder.

    ``version`` defaults to one above the highest existing version (1 for the first). The SavedModel
    is written to ``out/name/.tmp-VERSION-PID@HOST.xxxx`` and renamed into place, so a server watching
    ``out`` never loads half a model; such folders left by an export that was killed are removed here.
    An existing version is never overwritten (JointVAEError). A folder that cannot be written (read-only,
    not a folder) is a JointVAEError, a write that fails midway (a full disk) a RunFailure; neither leaves
    a partial export behind. The checkpoint is the newest intact one (a damaged one is skipped with a
    warning: :meth:`~jointvae_tf.run_folders.checkpoints.Checkpointer.restore_latest`).
    """
    if traverse_steps < 1:
        raise ConfigError("traverse_steps", f"expected an integer >= 1, got {traverse_steps}")
    model_dir = os.path.join(out, name)
    if version is None:
        version = (list_versions(model_dir) or [0])[-1] + 1
        if version > MAX_VERSION:
            raise ConfigError("version", f"{model_dir} holds the highest version TF-Serving reads ({MAX_VERSION}, "
                              "int64); pass a free version=N below it")
    if not 1 <= version <= MAX_VERSION:
        raise ConfigError("version", f"expected an integer 1 .. {MAX_VERSION} (TF-Serving's int64), got {version}")
    target = os.path.join(model_dir, str(version))
    if os.path.exists(target):
        raise ConfigError("version", f"{version}: {target} already exists; versions are never overwritten, "
                          "pass another version=N or leave it out for the next one")
    loaded = run_folders.open_run(run_dir)
    model = loaded.model
    preparation = preparation_of(loaded.config.data, model.config.image_size, model.config.channels)
    classes, purity = category_classes(model, loaded.config)
    archive = build_archive(model, traverse_steps, preparation, classes, purity)
    config = ExportConfig(latent=model.config.latent, image_shape=model.config.image_shape,
                          dataset=loaded.config.data.name, class_names=loaded.class_names,
                          run_dir=os.path.abspath(run_dir), step=loaded.step, traverse_steps=traverse_steps,
                          signatures=SIGNATURES + (("traverse",) if model.config.latent.cont else ()),
                          preparation=preparation, category_classes=classes, category_purity=purity)
    try:
        os.makedirs(model_dir, exist_ok=True)
        remove_abandoned_exports(model_dir)
        tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-{os.getpid()}@{socket.gethostname()}.", dir=model_dir)
    except OSError as error:  # a read-only or foreign folder: the user's to choose another
        raise write_failure(model_dir, "an export", error) from None
    try:
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the version from a server running as another user
        archive.write_out(tmp, verbose=False)
        config.save(os.path.join(tmp, EXPORT_CONFIG))
        if os.path.exists(target):
            raise ConfigError("version", f"{version}: {target} appeared while exporting; not overwritten")
        os.rename(tmp, target)
    except (OSError, tf.errors.OpError) as error:  # a full disk: nothing half-written stays
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_failure(target, "the export", error) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _class_tables(spec: LatentSpec, category_classes, category_purity):
    """``(names_of, category_of_class)``: graph functions from category ids ``[N, n_disc]`` to their class
    names, and from class names ``[N]`` to the ``category`` row asking for each (see
    :func:`sampling.category_of_class`); the tables are constants of the graph."""
    classes = category_classes or tuple(("",) * k for k in spec.disc)
    flat = [name for row in classes for name in row] or [""]
    offsets = [sum(spec.disc[:i]) for i in range(len(spec.disc))]
    known = sorted({name for row in classes for name in row if name})
    rows = [sampling.category_of_class(name, classes, category_purity) for name in known]
    listed = ", ".join(known) or "none (the training data had no labels)"

    def names_of(categories):
        if not spec.disc:
            return tf.zeros([tf.shape(categories)[0], 0], tf.string)
        ids = tf.clip_by_value(categories, 0, tf.constant([k - 1 for k in spec.disc]))
        return tf.gather(tf.constant(flat), tf.constant(offsets) + ids)

    def category_of_class(class_name):
        match = tf.equal(class_name[:, None], tf.constant(known or [""])[None, :]) & bool(known)
        found = tf.reduce_any(match, axis=1)
        table = tf.constant(rows or [[sampling.RANDOM_CATEGORY] * len(spec.disc)], tf.int32,
                            [max(len(rows), 1), len(spec.disc)])
        category = tf.gather(table, tf.argmax(tf.cast(match, tf.int32), axis=1, output_type=tf.int32))
        row_error = tf.where(found, "", tf.strings.join(["no category holds class '", class_name,
                                                         f"'; the categories hold {listed}"]))
        return {"category": tf.where(found[:, None], category, sampling.RANDOM_CATEGORY), "row_error": row_error}

    return names_of, category_of_class


def remove_abandoned_exports(model_dir: str) -> list[str]:
    """Remove the ``.tmp-VERSION-PID@HOST.xxxx`` folders of ``model_dir`` whose writer, process PID on this
    host, is gone (an export killed mid-write); returns their paths. Folders written on another host, or
    named otherwise, are left alone."""
    removed = []
    for name in sorted(os.listdir(model_dir)):
        found = _TEMPORARY.match(name)
        if found and found["host"] == socket.gethostname() and not _process_alive(int(found["pid"])):
            shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)
            removed.append(os.path.join(model_dir, name))
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
