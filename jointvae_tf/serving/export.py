"""SavedModel export for TensorFlow Serving: ``saved_models/NAME/VERSION/`` with four signatures.

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
- ``encode``: ``images`` float32 [N, H, W, C] -> ``z_mean``, ``z_log_var`` [N, cont], ``probabilities``
  [N, sum(disc)] (softmax per variable, concatenated), ``categories`` int32 [N, n_disc] (argmax).
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

import keras
import tensorflow as tf

from jointvae_tf import runs
from jointvae_tf.core import sampling
from jointvae_tf.core.config import LatentSpec, dataclass_from_dict
from jointvae_tf.core.latents import prior_quantiles, split_encoding
from jointvae_tf.core.model import JointVAE
from jointvae_tf.errors import ConfigError, JointVAEError, write_failure

EXPORT_CONFIG = os.path.join("assets.extra", "jointvae_export.json")
DEFAULT_TRAVERSE_STEPS = 10
MAX_VERSION = 2 ** 63 - 1
"""Highest version: TF-Serving reads version folder names as int64 and cannot serve any above."""
_VERSION = re.compile(r"^[0-9]+$")
_TEMPORARY = re.compile(r"^\.tmp-[0-9]+-(?P<pid>[0-9]+)@(?P<host>.+)\.[^.]+$")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What an export holds, stored as ``assets.extra/jointvae_export.json`` in the version folder.

    ``class_names``: the training dataset's label names (empty when unknown); JointVAE's categories are
    learnt without labels, so category ``i`` is not class ``i``. ``run_dir`` / ``step``: the run folder
    and checkpoint step it came from. ``traverse_steps``: STEPS of the ``traverse`` signature.
    """

    latent: LatentSpec
    image_shape: tuple[int, int, int]
    dataset: str
    class_names: tuple[str, ...]
    run_dir: str
    step: int
    traverse_steps: int
    signatures: tuple[str, ...]

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
                return dataclass_from_dict(cls, json.load(f))
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


def build_archive(model: JointVAE, traverse_steps: int = DEFAULT_TRAVERSE_STEPS) -> keras.export.ExportArchive:
    """An ExportArchive of ``model`` with the signatures in this module's docstring (graph mode, no XLA)."""
    spec = model.config.latent
    height, width, channels = model.config.image_shape
    n_disc = len(spec.disc)
    decode = tf.function(model.decode, jit_compile=False)
    encoder = tf.function(model.encoder, jit_compile=False)

    def decode_signature(z, c):
        return {"images": decode(tf.concat([z, c], axis=-1))}

    def sample_signature(seed, category):
        return sampling.sample(decode, spec, seed, category)

    def encode_signature(images):
        encoding = split_encoding(encoder(images), spec)
        probabilities = [tf.nn.softmax(logits) for logits in encoding.logits]
        categories = [tf.argmax(logits, axis=-1, output_type=tf.int32) for logits in encoding.logits]
        batch = tf.shape(images)[0]
        return {"z_mean": encoding.mean, "z_log_var": encoding.log_var,
                "probabilities": tf.concat(probabilities, -1) if n_disc else tf.zeros([batch, 0]),
                "categories": tf.stack(categories, -1) if n_disc else tf.zeros([batch, 0], tf.int32)}

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
    warning: :meth:`~jointvae_tf.runs.checkpoints.Checkpointer.restore_latest`).
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
    loaded = runs.open_run(run_dir)
    model = loaded.model
    archive = build_archive(model, traverse_steps)
    config = ExportConfig(latent=model.config.latent, image_shape=model.config.image_shape,
                          dataset=loaded.config.data.name, class_names=loaded.class_names,
                          run_dir=os.path.abspath(run_dir), step=loaded.step, traverse_steps=traverse_steps,
                          signatures=("serving_default", "sample", "encode") + (("traverse",) if model.config.latent.cont else ()))
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
