"""``jvae-tf explore``: a local web page that moves a model's latents and shows the decoded image, live.

The page (``jointvae_tf/static``: HTML, CSS and plain JavaScript, nothing fetched from elsewhere) talks
only to this server, and the server answers through the export's signatures, called with the same
``predict(inputs, signature_name)`` whether the model is a SavedModel in this process
(:class:`SavedModelPredictor`) or served by TF-Serving (:class:`~jointvae_tf.serving.client.RestClient`,
:class:`~jointvae_tf.serving.client.GrpcClient`):

- ``serving_default`` decodes the current code, the traversal strip around it and its row in every category;
- ``sample`` draws the "random" code from a seed; ``encode`` reads uploaded images and the held-out
  images whose KL orders the sliders; ``traverse`` draws the strip around the prior mean instead.

Endpoints (JSON in and out; a code is ``"z"``: ``[cont]`` floats and ``"c"``: ``[n_disc]`` category ids):

- ``GET /`` the page, ``GET /static/NAME`` its script and style;
- ``GET /api/model``: latent layout, continuous dims ordered by held-out KL (nats) with their labels,
  category names per discrete variable (see :meth:`Explorer.model_info`);
- ``POST /api/decode`` ``{"z", "c"}`` -> the decoded image as a PNG data URL (:meth:`Explorer.decode`);
- ``POST /api/views`` ``{"z", "c", "dim", "strip"}`` -> the strip of ``dim`` and the rows of categories
  (:meth:`Explorer.views`);
- ``POST /api/sample`` ``{"seed"}`` -> a code drawn from the prior (:meth:`Explorer.sample`);
- ``POST /api/encode``, body the bytes of a PNG or JPEG of any size -> its code (:meth:`Explorer.encode`).

A request the server cannot answer gets ``{"error": one line}``: 400 for a bad request (wrong latent
length, a file that is not a PNG/JPEG, an upload over :data:`MAX_UPLOAD_BYTES`), 404 for an unknown
path, 502 when the model behind it failed; never a traceback.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib.resources
import io
import json
import math
import os
import shutil
import sys
import tempfile
import urllib.parse
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError
from tensorflow.core.framework import types_pb2

from jointvae_tf.core import latents, sampling
from jointvae_tf.core.config import LatentSpec, RunConfig
from jointvae_tf.data import pixels
from jointvae_tf.data.normalize import normalize_images
from jointvae_tf.data.resize import fit_image
from jointvae_tf.errors import ConfigError, JointVAEError
from jointvae_tf.evaluation.metrics import INACTIVE_KL
from jointvae_tf.runs.folder import RunFolder
from jointvae_tf.serving import export
from jointvae_tf.serving.client import (
    GrpcClient,
    RestClient,
    RetryPolicy,
    Signature,
    TensorInfo,
)
from jointvae_tf.viz.visualize import majority_class_names, traversal_rows

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
"""Largest accepted upload (bytes); larger ones get a 400."""
MAX_JSON_BYTES = 1024 * 1024
SLIDER_RANGE = 3.0
"""Sliders span [-SLIDER_RANGE, SLIDER_RANGE] standard deviations of the N(0, 1) prior."""
CODE_DECIMALS = 4
"""Codes the server hands out are rounded to this many decimals: exactly what the page keeps and shares."""
UPLOAD_FORMATS = ("PNG", "JPEG")
STRIP_MODES = ("code", "prior")
"""The strip sweeps its dim around the current code (``serving_default``) or around the prior mean with
the other continuous dims at 0 (the ``traverse`` signature, as the exported traversal pictures)."""
REQUIRED_SIGNATURES = ("serving_default", "sample", "encode")
ENCODE_BATCH = 256
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


class BadRequest(JointVAEError):
    """A request the page (or anyone with curl) got wrong; answered with HTTP 400 and the message."""


class SavedModelPredictor:
    """The signatures of a SavedModel loaded in this process, behind the clients' ``predict``.

    ``export_dir``: a version folder (``saved_models/NAME/VERSION``) written by ``jvae-tf export``.
    """

    def __init__(self, export_dir: str):
        self.export_dir = export_dir
        self.servable = f"export {export_dir}"
        self._loaded = tf.saved_model.load(export_dir)

    def signatures(self) -> dict[str, Signature]:
        """Inputs and outputs of every signature, described as the server's metadata describes them."""
        def describe(specs) -> dict[str, TensorInfo]:
            return {name: TensorInfo(_dtype_name(spec.dtype), tuple(-1 if size is None else int(size) for size in spec.shape))
                    for name, spec in specs.items()}

        return {name: Signature(describe(function.structured_input_signature[1]),
                                describe(function.structured_outputs))
                for name, function in self._loaded.signatures.items()}

    def predict(self, inputs: dict[str, np.ndarray], signature_name: str = "serving_default") -> dict[str, np.ndarray]:
        """Run ``signature_name`` on ``inputs`` (name -> array with the batch first); outputs by name."""
        try:
            outputs = self._loaded.signatures[signature_name](**{name: tf.constant(value)
                                                                 for name, value in inputs.items()})
        except tf.errors.InvalidArgumentError as error:
            raise JointVAEError(f"{self.servable}: {signature_name} rejected the request "
                                f"({sampling.check_message(error.message)})") from None
        return {name: value.numpy() for name, value in outputs.items()}


def _dtype_name(dtype) -> str:
    """TF-Serving's name of a dtype, e.g. ``DT_FLOAT``."""
    return types_pb2.DataType.Name(tf.dtypes.as_dtype(dtype).as_datatype_enum)


@dataclasses.dataclass(frozen=True)
class ModelLayout:
    """What the page needs to know of a model: its latent space, image shape (pixels) and the number of
    steps of its traversal strip (the export's ``traverse_steps``)."""

    spec: LatentSpec
    image_shape: tuple[int, int, int]
    steps: int
    signatures: tuple[str, ...]


def layout_from_signatures(signatures: dict[str, Signature], where: str, spec: LatentSpec | None = None) -> ModelLayout:
    """The :class:`ModelLayout` of a model from its signatures' shapes.

    ``spec``: the latent spec known from the export's or the run's config, checked against the shapes;
    without it, the spec is read from them, which needs at most one discrete variable (the inputs only
    give the sum of the category counts). ``where`` names the model in messages.
    """
    missing = [name for name in REQUIRED_SIGNATURES if name not in signatures]
    if missing:
        raise JointVAEError(f"{where}: no signature {', '.join(missing)} (it has {sorted(signatures)}); expected "
                            "a model written by `jvae-tf export`")

    def width(signature: str, kind: str, name: str, rank: int) -> tuple[int, ...]:
        info = getattr(signatures[signature], kind).get(name)
        if info is None or len(info.shape) != rank:
            raise JointVAEError(f"{where}: signature {signature!r} has no {kind[:-1]} {name!r} of rank {rank}; "
                                "expected a model written by `jvae-tf export`")
        return info.shape[1:]

    (cont,), (disc_size,) = width("serving_default", "inputs", "z", 2), width("serving_default", "inputs", "c", 2)
    (n_disc,) = width("sample", "inputs", "category", 2)
    image_shape = width("encode", "inputs", "images", 4)
    steps = width("traverse", "outputs", "images", 5)[0] if "traverse" in signatures else 0
    if spec is None:
        if n_disc > 1:
            raise JointVAEError(f"{where}: {n_disc} discrete variables of {disc_size} categories in all; pass the "
                                "model's run folder (RUN_DIR) to know the size of each")
        spec = LatentSpec(cont, (disc_size,) if n_disc else ())
    elif (spec.cont, spec.disc_size, len(spec.disc)) != (cont, disc_size, n_disc):
        raise JointVAEError(f"{where}: its signatures take cont {cont} and {n_disc} discrete variables of "
                            f"{disc_size} categories in all, but the run or export config says cont {spec.cont}, "
                            f"disc {list(spec.disc)}")
    if min(image_shape) < 1:
        raise JointVAEError(f"{where}: encode takes images of unknown shape {image_shape}; expected a model "
                            "written by `jvae-tf export`")
    return ModelLayout(spec, tuple(image_shape), steps if steps > 0 else export.DEFAULT_TRAVERSE_STEPS,
                       tuple(sorted(signatures)))


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """What held-out images say about the latents.

    ``kl_cont``: ``[cont]`` mean KL per continuous dim (nats), ``kl_disc``: ``[n_disc]`` per discrete
    variable, both None when no held-out images could be read; ``category_names``: per discrete
    variable, the majority class of the images in each category ("" when unknown or unused);
    ``description``: which images, or why there are none.
    """

    kl_cont: tuple[float, ...] | None
    kl_disc: tuple[float, ...] | None
    category_names: tuple[tuple[str, ...], ...]
    description: str

    @classmethod
    def unknown(cls, spec: LatentSpec, reason: str) -> "HeldOut":
        return cls(None, None, tuple(("",) * k for k in spec.disc), reason)


def measure_held_out(predictor, spec: LatentSpec, images: np.ndarray, labels=None, class_names=(),
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
    names = tuple(tuple(majority_class_names(joined["categories"][:, i], labels, class_names, k))
                  if labels is not None and len(class_names) else ("",) * k for i, k in enumerate(spec.disc))
    return HeldOut(tuple(float(v) for v in kl_cont), tuple(kl_disc), names, description)


class Explorer:
    """Answers the page's requests for one model (see the module docstring for the endpoints).

    Args:
      predictor: anything with ``predict(inputs, signature_name)`` over the export's signatures.
      layout: the model's :class:`ModelLayout`.
      held_out: KL per latent and category names (default: unknown, sliders in index order).
      normalize: the run's image normalisation (``DataConfig.normalize``), applied to uploads.
      title: names the model on the page.
      cleanup: a folder to remove on :meth:`close` (the temporary export of a run folder).
    """

    def __init__(self, predictor, layout: ModelLayout, held_out: HeldOut | None = None, normalize: str = "none",
                 title: str = "", cleanup: str | None = None):
        self.predictor = predictor
        self.layout = layout
        self.spec = layout.spec
        self.held_out = held_out or HeldOut.unknown(layout.spec, "no held-out images")
        self.normalize = normalize
        self.title = title
        self._cleanup = cleanup

    def close(self) -> None:
        """Release the model (a gRPC channel) and remove the temporary export, if any."""
        if isinstance(self.predictor, GrpcClient):
            self.predictor.close()
        if self._cleanup:
            shutil.rmtree(self._cleanup, ignore_errors=True)

    def model_info(self) -> dict:
        """What the page builds its controls from.

        ``dims``: the continuous dims, largest held-out KL first (index order when unknown), each
        ``{"dim", "label", "kl" (nats or null), "active"}``; ``variables``: per discrete variable
        ``{"index", "label", "categories": [labels]}``; ``strip_values``: the prior quantiles of a strip.
        """
        spec, held_out = self.spec, self.held_out
        if held_out.kl_cont is not None:
            order, labels, inactive = traversal_rows(held_out.kl_cont, held_out.kl_disc)
        else:
            order = np.arange(spec.cont)
            labels = [f"z{d}" for d in order] + [f"c{i}" for i in range(len(spec.disc))]
            inactive = [False] * (spec.cont + len(spec.disc))
        dims = [{"dim": int(d), "label": labels[row], "active": not inactive[row],
                 "kl": None if held_out.kl_cont is None else held_out.kl_cont[d]} for row, d in enumerate(order)]
        variables = [{"index": i, "label": labels[spec.cont + i],
                      "categories": [f"{j} {name}".rstrip() for j, name in enumerate(held_out.category_names[i])]}
                     for i in range(len(spec.disc))]
        return {"title": self.title, "cont": spec.cont, "disc": list(spec.disc),
                "image_shape": list(self.layout.image_shape), "dims": dims, "variables": variables,
                "held_out": held_out.description, "inactive_kl": INACTIVE_KL, "slider_range": SLIDER_RANGE,
                "decimals": CODE_DECIMALS, "strip_values": self._strip_values().round(CODE_DECIMALS).tolist(),
                "strip_modes": list(self.strip_modes),
                "normalize": self.normalize, "max_upload_bytes": MAX_UPLOAD_BYTES}

    def decode(self, request: dict) -> dict:
        """The picture of one code: request ``{"z": [cont], "c": [n_disc]}`` -> ``{"image": PNG data URL}``."""
        z, c = self._code(request)
        return {"image": _data_url(self._decode(z[None], c[None])[0])}

    def views(self, request: dict) -> dict:
        """The pictures around one code.

        Request: ``{"z": [cont], "c": [n_disc], "dim": continuous dim of the strip (optional), "strip":
        "code" | "prior" (default "code")}``.

        Returns:
          ``{"strip": {"dim", "mode", "values", "images": [steps]} or null, "categories": [[K_i images] per
          discrete variable]}`` as PNG data URLs: the strip sweeps ``dim`` over the prior's quantiles 5 % ..
          95 % (with the rest of the code, or around the prior mean: see :data:`STRIP_MODES`); row ``i``
          shows the code with ``c[i]`` set to each category in turn.
        """
        z, c = self._code(request)
        dim, mode = request.get("dim"), request.get("strip", "code")
        if dim is not None and (not _is_int(dim) or not 0 <= dim < self.spec.cont):
            raise BadRequest(f"dim: expected a continuous dim 0 .. {self.spec.cont - 1} or null, got {_shown(dim)}")
        if mode not in self.strip_modes:
            raise BadRequest(f"strip: expected one of {list(self.strip_modes)}, got {_shown(mode)}")
        values = self._strip_values()
        rows_z, rows_c = [], []
        if dim is not None and mode == "code":
            rows_z.append(np.repeat(z[None], len(values), axis=0))
            rows_z[-1][:, dim] = values
            rows_c.append(np.repeat(c[None], len(values), axis=0))
        for i, k in enumerate(self.spec.disc):
            rows_z.append(np.repeat(z[None], k, axis=0))
            rows_c.append(np.repeat(c[None], k, axis=0))
            rows_c[-1][:, i] = np.arange(k)
        images = [_data_url(image) for image in self._decode(np.concatenate(rows_z), np.concatenate(rows_c))] \
            if rows_z else []
        answer = {"strip": None, "categories": []}
        if dim is not None:
            if mode == "code":
                strip, images = images[:len(values)], images[len(values):]
            else:
                traversal = sampling.raise_row_errors(self.predictor.predict(
                    {"dim": np.array([dim], np.int32), "category": c[None].astype(np.int32)}, "traverse"), f"dim {dim}")
                strip = [_data_url(image) for image in traversal["images"][0]]
            answer["strip"] = {"dim": dim, "mode": mode, "values": values.round(CODE_DECIMALS).tolist(),
                               "images": strip}
        for k in self.spec.disc:
            answer["categories"].append(images[:k])
            images = images[k:]
        return answer

    @property
    def strip_modes(self) -> tuple[str, ...]:
        """The strips this model can draw (``prior`` needs the ``traverse`` signature, absent when cont = 0)."""
        return STRIP_MODES if "traverse" in self.layout.signatures else ("code",)

    def sample(self, request: dict) -> dict:
        """A code from the prior: request ``{"seed": int}`` -> ``{"seed", "z", "c"}`` (the ``sample`` signature:
        the same seed gives the same code as ``jvae-tf sample --seed``)."""
        seed = request.get("seed")
        if not _is_int(seed) or not -2 ** 63 <= seed < 2 ** 63:
            raise BadRequest(f"seed: expected an integer, got {_shown(seed)}")
        rows = sampling.request_rows(1, seed, [], self.spec.disc)
        outputs = sampling.raise_row_errors(self.predictor.predict(rows, "sample"), f"seed {seed}")
        return {"seed": seed, "z": _rounded(outputs["z"][0]), "c": outputs["categories"][0].tolist()}

    def encode(self, data: bytes) -> dict:
        """The code of an uploaded image: PNG or JPEG bytes of any size, brought to the model's input by the
        data pipeline's rule (:func:`~jointvae_tf.data.resize.fit_image`, then the run's normalisation).

        Returns:
          ``{"z": posterior means [cont], "c": most probable category per variable [n_disc],
          "probabilities": [[K_i] per variable], "input": the image the model read, as a PNG data URL}``.
        """
        image = model_input(data, self.layout.image_shape, self.normalize)
        outputs = self.predictor.predict({"images": image[None].astype(np.float32) / 255.0}, "encode")
        probabilities = np.split(outputs["probabilities"][0], np.cumsum(self.spec.disc)[:-1]) if self.spec.disc else []
        return {"z": _rounded(outputs["z_mean"][0]), "c": outputs["categories"][0].tolist(),
                "probabilities": [p.round(CODE_DECIMALS).tolist() for p in probabilities], "input": _data_url(image)}

    def _code(self, request: dict) -> tuple[np.ndarray, np.ndarray]:
        """``(z float32 [cont], c int64 [n_disc])`` of a request, or BadRequest naming what is wrong."""
        spec = self.spec
        if not isinstance(request, dict):
            raise BadRequest(f"request: expected a JSON object with z and c, got {_shown(request)}")
        z, c = request.get("z"), request.get("c")
        if not isinstance(z, list) or len(z) != spec.cont or not all(_is_number(v) for v in z):
            raise BadRequest(f"z: expected {spec.cont} finite numbers (one per continuous dim), got {_shown(z)}")
        if not isinstance(c, list) or len(c) != len(spec.disc) or \
                not all(_is_int(v) and 0 <= v < k for v, k in zip(c, spec.disc)):
            raise BadRequest(f"c: expected {len(spec.disc)} category ids (one per discrete variable, each 0 .. K-1 "
                             f"for K in {list(spec.disc)}), got {_shown(c)}")
        return np.asarray(z, np.float32), np.asarray(c, np.int64)

    def _decode(self, z: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Images float32 ``[N, H, W, C]`` of codes ``z [N, cont]``, ``c [N, n_disc]`` (``serving_default``)."""
        latent = latents.compose(self.spec, z, c)
        return self.predictor.predict({"z": latent[:, :self.spec.cont], "c": latent[:, self.spec.cont:]},
                                      "serving_default")["images"]

    def _strip_values(self) -> np.ndarray:
        return latents.prior_quantiles(self.layout.steps)


def model_input(data: bytes, image_shape: tuple[int, int, int], normalize: str = "none") -> np.ndarray:
    """uint8 ``image_shape`` image from the bytes of a PNG or JPEG of any size, as the data pipeline prepares
    image files: grey or RGB, fitted to the model's side (padding or resampling), then normalised."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadRequest(_too_large("upload", len(data), MAX_UPLOAD_BYTES))
    size, _, channels = image_shape
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in UPLOAD_FORMATS:
                    raise BadRequest(f"upload: a {image.format} image; expected a PNG or JPEG")
                pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except UnidentifiedImageError:
        raise BadRequest("upload: not an image file; expected a PNG or JPEG") from None
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        if isinstance(error, BadRequest):
            raise
        raise BadRequest(f"upload: an unreadable PNG or JPEG ({' '.join(str(error).split())[:200]})") from None
    fitted = fit_image(pixels.reshape(*pixels.shape[:2], channels), size, channels)
    return normalize_images(fitted[None], normalize)[0] if normalize != "none" else fitted


def open_explorer(run_dir: str | None = None, *, export_dir: str | None = None, server: str | None = None,
                  grpc: str | None = None, model: str = "jointvae", version: int | None = None,
                  retry: RetryPolicy = RetryPolicy(), max_examples: int = 1000) -> Explorer:
    """An :class:`Explorer` of one model.

    The model is the one served at ``server`` (REST) or ``grpc``, or exported at ``export_dir``
    (``saved_models/NAME[/VERSION]``), or else the latest checkpoint of ``run_dir``, exported to a
    temporary folder (removed on ``close()``) so that the page runs through the same signatures.

    ``run_dir`` (for an export: the run it was made from, when that folder still exists) supplies up to
    ``max_examples`` validation images, whose KL orders the sliders and whose labels name the
    categories, and the normalisation applied to uploads.
    """
    sources = {"`export_dir`": export_dir, "`server`": server, "`grpc`": grpc}
    given = [name for name, value in sources.items() if value]
    if len(given) > 1 or not (given or run_dir):
        raise JointVAEError(f"explore: expected `run_dir` or one of {', '.join(sources)}, got "
                            f"{' and '.join(given) or 'none'}")
    run = _load_run(run_dir) if run_dir else None
    cleanup = None
    if server or grpc:
        predictor = RestClient(server, model, version, retry) if server else GrpcClient(grpc, model, version, retry)
        known_spec, title = None, predictor.servable
    else:
        if not export_dir:
            cleanup = tempfile.mkdtemp(prefix="jvae-explore-")
            export_dir = export.export_run(run_dir, out=cleanup)
        export_dir = export.resolve_export_dir(export_dir)
        config = export.ExportConfig.load(export_dir)
        if run is None and os.path.isfile(RunFolder(config.run_dir).config):
            run_dir, run = config.run_dir, _load_run(config.run_dir)
        predictor = SavedModelPredictor(export_dir)
        known_spec = config.latent
        title = f"{run_dir} (step {config.step})" if cleanup else export_dir
    try:
        if run is not None:
            if known_spec is not None and known_spec != run.model.latent:
                raise ConfigError("run_dir", f"{run_dir}: its latent spec {run.model.latent} is not the model's "
                                  f"{known_spec}")
            known_spec = run.model.latent
        layout = layout_from_signatures(predictor.signatures(), predictor.servable, known_spec)
        if run is not None and run.model.image_shape != layout.image_shape:
            raise ConfigError("run_dir", f"{run_dir}: images {run.model.image_shape}, but the model reads "
                              f"{layout.image_shape}")
        held_out = _held_out(predictor, layout.spec, run, run_dir, max_examples)
    except BaseException:
        if cleanup:
            shutil.rmtree(cleanup, ignore_errors=True)
        raise
    return Explorer(predictor, layout, held_out, run.data.normalize if run else "none", title, cleanup)


def _load_run(run_dir: str) -> RunConfig:
    if not os.path.isdir(run_dir):
        raise ConfigError("run_dir", f"{run_dir}: no such folder; expected a run folder written by `jvae-tf train`")
    return RunConfig.load(RunFolder(run_dir).config)


def _held_out(predictor, spec: LatentSpec, run: RunConfig | None, run_dir: str | None, max_examples: int) -> HeldOut:
    """The run's validation images measured through ``predictor``; unknown (with the reason) when there is
    no run folder or its data cannot be read here."""
    if run is None:
        return HeldOut.unknown(spec, "KL unknown: no run folder (pass RUN_DIR to order the sliders by KL)")
    from jointvae_tf.evaluation.report import load_split

    try:
        examples = load_split(run, "validation", max_examples)
    except JointVAEError as error:
        return HeldOut.unknown(spec, f"KL unknown: the validation images of {run_dir} cannot be read ({error})")
    return measure_held_out(predictor, spec, examples.images, examples.labels, examples.class_names,
                            f"{len(examples.images)} validation images of {run.data.name}")


def make_server(explorer: Explorer, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A threading HTTP server answering the page and its API for ``explorer``, bound but not yet serving
    (call ``serve_forever()``); port 0 picks a free port (``server.server_address[1]``)."""
    try:
        server = _ExplorerServer((host, port), _Handler)
    except OSError as error:
        raise ConfigError("port", f"{host}:{port}: cannot listen there ({error.strerror or error}); "
                          "pass another port=N, or 0 for any free one") from None
    server.explorer = explorer
    server.static = _static_files()
    return server


def address(server: ThreadingHTTPServer) -> str:
    """The page's URL, e.g. ``http://127.0.0.1:8850/``."""
    host, port = server.server_address[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


class _ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True
    explorer: Explorer
    static: dict[str, tuple[bytes, str]]


class _Handler(BaseHTTPRequestHandler):
    server: _ExplorerServer
    server_version = "jvae-tf-explore"

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        self._answer(lambda: self._get(path))

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        self._answer(lambda: self._post(path))

    def _get(self, path: str):
        name = "index.html" if path == "/" else path[len("/static/"):] if path.startswith("/static/") else None
        if name in self.server.static:
            return self.server.static[name]
        if path == "/api/model":
            return self.server.explorer.model_info()
        raise _NotFound(path)

    def _post(self, path: str):
        explorer = self.server.explorer
        if path == "/api/encode":
            return explorer.encode(self._body(MAX_UPLOAD_BYTES, "upload"))
        handlers = {"/api/decode": explorer.decode, "/api/views": explorer.views, "/api/sample": explorer.sample}
        if path not in handlers:
            raise _NotFound(path)
        body = self._body(MAX_JSON_BYTES, "request body")
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest(f"request body: expected JSON ({error})") from None
        if not isinstance(request, dict):
            raise BadRequest(f"request body: expected a JSON object, got {_shown(request)}")
        return handlers[path](request)

    def _body(self, limit: int, what: str) -> bytes:
        """The request body, at most ``limit`` bytes (a larger one is drained or the connection closed)."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0:
            raise BadRequest(f"{what}: expected a Content-Length header")
        if length > limit:
            if length <= 4 * limit:  # read it away, so that the browser sees the answer rather than a reset
                remaining = length
                while remaining > 0 and (chunk := self.rfile.read(min(1 << 20, remaining))):
                    remaining -= len(chunk)
            else:
                self.close_connection = True
            raise BadRequest(_too_large(what, length, limit))
        return self.rfile.read(length)

    def _answer(self, handle) -> None:
        try:
            result = handle()
        except BadRequest as error:
            return self._send(400, {"error": str(error)})
        except _NotFound as error:
            return self._send(404, {"error": f"{error}: no such page or endpoint"})
        except JointVAEError as error:
            return self._send(502, {"error": str(error)})
        except Exception as error:  # the page gets one line, never a traceback
            message = f"internal error ({type(error).__name__}: {' '.join(str(error).split())[:300]})"
            print(f"jvae-tf explore: {self.command} {self.path}: {message}", file=sys.stderr)
            return self._send(500, {"error": message})
        if isinstance(result, tuple):
            return self._send(200, *result)
        return self._send(200, result)

    def _send(self, status: int, body, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format, *args):
        """Quiet: a moving slider makes many requests; failures are answered to the page instead."""


class _NotFound(Exception):
    pass


def _static_files() -> dict[str, tuple[bytes, str]]:
    """``{file name: (bytes, content type)}`` of the page, read once from the package's ``static`` folder."""
    folder = importlib.resources.files("jointvae_tf.serving") / "static"
    return {entry.name: (entry.read_bytes(), STATIC_TYPES[os.path.splitext(entry.name)[1]])
            for entry in folder.iterdir() if os.path.splitext(entry.name)[1] in STATIC_TYPES}


def _data_url(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` of one image float ``[H, W, C]`` in [0, 1] (pixels as ``pixels.to_uint8``)."""
    values = pixels.to_uint8(image)
    buffer = io.BytesIO()
    Image.fromarray(values[:, :, 0] if values.shape[2] == 1 else values).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _too_large(what: str, size: int, limit: int) -> str:
    return f"{what}: {size / 2 ** 20:.1f} MB is over the {limit / 2 ** 20:g} MB limit"


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), CODE_DECIMALS) for v in values]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value, limit: int = 80) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
