"""The explorer's model-facing side: what the page asks, answered through a model's signatures.

An :class:`Explorer` holds one :class:`~jointvae_tf.serving.predictor.Predictor` (the model in this process
or on a TF-Serving server: the same signatures either way) and answers the page's requests:

- ``serving_default`` decodes the current code, the traversal strip around it and its row in every category;
- ``sample`` draws the "random" code from a seed; ``encode`` reads uploaded images and the held-out
  images whose KL orders the sliders; ``traverse`` draws the strip around the prior mean instead.

Requests and answers are JSON-ready dicts (a code is ``"z"``: ``[cont]`` floats and ``"c"``: ``[n_disc]``
category ids, or class names where the model's categories are named: ``"star"`` is the purest category
of that variable holding stars); a request the page got wrong raises :class:`BadRequest` with one line.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import threading

import numpy as np
from PIL import Image

from jointvae_tf.core import latents, sampling
from jointvae_tf.core.config import LatentSpec, RunConfig
from jointvae_tf.data import pixels
from jointvae_tf.data.image_files import read_image
from jointvae_tf.data.normalize import normalize_images
from jointvae_tf.data.resize import fit_image
from jointvae_tf.errors import ConfigError, JointVAEError
from jointvae_tf.evaluation.metrics import INACTIVE_KL
from jointvae_tf.run_folders.folder import RunFolder
from jointvae_tf.serving import export
from jointvae_tf.serving.explorer.held_out import HeldOut, held_out_of_run
from jointvae_tf.serving.predictor import (
    Predictor,
    Signature,
    category_rows,
    export_category_classes,
    raise_row_errors,
    request_rows,
)
from jointvae_tf.viz.visualize import traversal_rows

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
"""Largest accepted upload (bytes); larger ones get a 400."""
DECODING_AT_ONCE = 2
"""Uploads decoded at the same time (each may take ``MAX_IMAGE_PIXELS`` x 3 bytes, the one cap of every image
read, checked from the header: a small PNG can declare 9400 x 9400 pixels in 250 KB); others wait."""
MAX_CODE = 1000.0
"""Largest magnitude of a continuous latent in a request: the prior is N(0, 1), so this is far beyond any
meaningful code, and it keeps float32 arithmetic finite."""
MAX_JSON_BYTES = 1024 * 1024
"""Largest accepted JSON request body (bytes)."""
SLIDER_RANGE = 3.0
"""Sliders span [-SLIDER_RANGE, SLIDER_RANGE] standard deviations of the N(0, 1) prior."""
CODE_DECIMALS = 4
"""Codes the server hands out are rounded to this many decimals: exactly what the page keeps and shares."""
UPLOAD_FORMATS = ("PNG", "JPEG")
STRIP_MODES = ("code", "prior")
"""The strip sweeps its dim around the current code (``serving_default``) or around the prior mean with
the other continuous dims at 0 (the ``traverse`` signature, as the exported traversal pictures)."""
REQUIRED_SIGNATURES = ("serving_default", "sample", "encode")


class BadRequest(JointVAEError):
    """A request the page (or anyone with curl) got wrong; answered with HTTP 400 and the message."""


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


class Explorer:
    """Answers the page's requests for one model (see the module docstring for the endpoints).

    Args:
      predictor: the model, through the export's signatures.
      layout: the model's :class:`ModelLayout`.
      held_out: KL per latent and category names (default: unknown, sliders in index order).
      normalize: the run's image normalisation (``DataConfig.normalize``), applied to uploads.
      title: names the model on the page.
      class_rows: ``{class name: category row}`` a class name in a code stands for (per variable its
        purest category holding the class, -1 where none does); default: from ``held_out``'s names
        (:func:`~jointvae_tf.core.sampling.category_of_class`).
    """

    def __init__(self, predictor: Predictor, layout: ModelLayout, held_out: HeldOut | None = None,
                 normalize: str = "none", title: str = "", class_rows: dict[str, list[int]] | None = None):
        self.predictor = predictor
        self.layout = layout
        self.spec = layout.spec
        self.held_out = held_out or HeldOut.unknown(layout.spec, "no held-out images")
        self.normalize = normalize
        self.title = title
        self.class_rows = _class_rows(self.held_out) if class_rows is None else class_rows

    def close(self) -> None:
        """Release the model (a gRPC channel)."""
        self.predictor.close()

    def model_info(self) -> dict:
        """What the page builds its controls from.

        ``dims``: the continuous dims, largest held-out KL first (index order when unknown), each
        ``{"dim", "label", "kl" (nats or null), "active"}``; ``variables``: per discrete variable
        ``{"index", "label", "categories": [labels]}`` (a label is the id and the class the category
        holds, when known); ``classes``: ``{class name: category row}`` for the names a code may hold;
        ``strip_values``: the prior quantiles of a strip.
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
                "classes": self.class_rows,
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
            raise BadRequest(f"dim: expected a continuous dim 0 .. {self.spec.cont - 1} or null, got {shown(dim)}")
        if mode not in self.strip_modes:
            raise BadRequest(f"strip: expected one of {list(self.strip_modes)}, got {shown(mode)}")
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
                traversal = raise_row_errors(self.predictor.predict(
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
        """A code from the prior: request ``{"seed": int}`` -> ``{"seed", "z", "c", "c_names"}`` (the ``sample``
        signature: the same seed gives the same code as ``jvae-tf sample --seed``; ``c_names``: the class
        each category holds, "" where unknown)."""
        seed = request.get("seed")
        if not _is_int(seed) or not -2 ** 63 <= seed < 2 ** 63:
            raise BadRequest(f"seed: expected an integer, got {shown(seed)}")
        rows = request_rows(1, seed, [], self.spec.disc)
        outputs = raise_row_errors(self.predictor.predict(rows, "sample"), f"seed {seed}")
        c = outputs["categories"][0].tolist()
        return {"seed": seed, "z": _rounded(outputs["z"][0]), "c": c, "c_names": self._names(c)}

    def encode(self, data: bytes) -> dict:
        """The code of an uploaded image: PNG or JPEG bytes of any size, brought to the model's input by the
        data pipeline's rule (:func:`~jointvae_tf.data.resize.fit_image`, then the run's normalisation).

        Returns:
          ``{"z": posterior means [cont], "c": most probable category per variable [n_disc], "c_names": the
          class each holds ("" where unknown), "probabilities": [[K_i] per variable], "input": the image the
          model read, as a PNG data URL}``.
        """
        image = model_input(data, self.layout.image_shape, self.normalize)
        outputs = self.predictor.predict({"images": image[None].astype(np.float32) / 255.0}, "encode")
        probabilities = np.split(outputs["probabilities"][0], np.cumsum(self.spec.disc)[:-1]) if self.spec.disc else []
        c = outputs["categories"][0].tolist()
        return {"z": _rounded(outputs["z_mean"][0]), "c": c, "c_names": self._names(c),
                "probabilities": [p.round(CODE_DECIMALS).tolist() for p in probabilities], "input": _data_url(image)}

    def _code(self, request: dict) -> tuple[np.ndarray, np.ndarray]:
        """``(z float32 [cont], c int64 [n_disc])`` of a request, or BadRequest naming what is wrong."""
        spec = self.spec
        if not isinstance(request, dict):
            raise BadRequest(f"request: expected a JSON object with z and c, got {shown(request)}")
        z, c = request.get("z"), request.get("c")
        if not isinstance(z, list) or len(z) != spec.cont or not all(_is_number(v) for v in z):
            raise BadRequest(f"z: expected {spec.cont} finite numbers (one per continuous dim) within "
                             f"+-{MAX_CODE:g}, got {shown(z)}")
        if isinstance(c, list) and len(c) == len(spec.disc):
            c = [self._category_of(i, v) if isinstance(v, str) else v for i, v in enumerate(c)]
        if not isinstance(c, list) or len(c) != len(spec.disc) or \
                not all(_is_int(v) and 0 <= v < k for v, k in zip(c, spec.disc)):
            raise BadRequest(f"c: expected {len(spec.disc)} category ids (one per discrete variable, each 0 .. K-1 "
                             f"for K in {list(spec.disc)}) or class names, got {shown(c)}")
        return np.asarray(z, np.float32), np.asarray(c, np.int64)

    def _category_of(self, index: int, name: str) -> int:
        """The category of discrete variable ``index`` that class ``name`` stands for, or BadRequest listing
        the class names the model knows."""
        row = self.class_rows.get(name)
        if row is None or row[index] < 0:
            known = sorted(held for held, categories in self.class_rows.items() if categories[index] >= 0)
            held = f"its categories hold {', '.join(known)}" if known else "the model knows no class names"
            raise BadRequest(f"c: no category of c{index} holds class {shown(name)}; {held}")
        return row[index]

    def _names(self, c: list[int]) -> list[str]:
        """The class each category of a code holds ("" where unknown)."""
        return [self.held_out.category_names[i][j] for i, j in enumerate(c)]

    def _decode(self, z: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Images float32 ``[N, H, W, C]`` of codes ``z [N, cont]``, ``c [N, n_disc]`` (``serving_default``)."""
        latent = latents.compose(self.spec, z, c)
        return self.predictor.predict({"z": latent[:, :self.spec.cont], "c": latent[:, self.spec.cont:]},
                                      "serving_default")["images"]

    def _strip_values(self) -> np.ndarray:
        return latents.prior_quantiles(self.layout.steps)


def model_input(data: bytes, image_shape: tuple[int, int, int], normalize: str = "none") -> np.ndarray:
    """uint8 ``image_shape`` image from the bytes of a PNG or JPEG of any size, as the data pipeline prepares
    image files: read by the one image reader (:func:`~jointvae_tf.data.image_files.read_image`: its real bit
    depth, transparency over white, at most ``MAX_IMAGE_PIXELS`` from the header before decoding, at most
    :data:`DECODING_AT_ONCE` decoding at a time), fitted to the model's side, then normalised."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadRequest(too_large("upload", len(data), MAX_UPLOAD_BYTES))
    size, _, channels = image_shape
    try:
        image = read_image(data, channels, "upload", UPLOAD_FORMATS, decoding=_DECODING)
    except JointVAEError as error:
        raise BadRequest(str(error)) from None
    fitted = fit_image(image, size, channels)
    return normalize_images(fitted[None], normalize)[0] if normalize != "none" else fitted


_DECODING = threading.BoundedSemaphore(DECODING_AT_ONCE)


def open_explorer(predictor: Predictor, run_dir: str | None = None, max_examples: int = 1000) -> Explorer:
    """An :class:`Explorer` of the model ``predictor`` reaches (see
    :func:`~jointvae_tf.serving.sources.open_predictor`); it closes the predictor on ``close()``.

    ``run_dir``: the model's run folder; by default the one the export remembers, when it still exists.
    It supplies the latent spec (a server's signatures tell only the sum of the category counts), up to
    ``max_examples`` validation images, whose KL orders the sliders and whose labels name the categories,
    and the normalisation applied to uploads.
    """
    try:
        known_spec = predictor.config.latent if predictor.config else None
        if run_dir is None and predictor.config and os.path.isfile(RunFolder(predictor.config.run_dir).config):
            run_dir = predictor.config.run_dir
        run = _load_run(run_dir) if run_dir else None
        if run is not None:
            if known_spec is not None and known_spec != run.model.latent:
                raise ConfigError("run_dir", f"{run_dir}: its latent spec {run.model.latent} is not the model's "
                                  f"{known_spec}")
            known_spec = run.model.latent
        layout = layout_from_signatures(predictor.signatures(), predictor.servable, known_spec)
        if run is not None and run.model.image_shape != layout.image_shape:
            raise ConfigError("run_dir", f"{run_dir}: images {run.model.image_shape}, but the model reads "
                              f"{layout.image_shape}")
        held_out = held_out_of_run(predictor, layout.spec, run, run_dir, max_examples)
        named = export_category_classes(predictor, layout.spec.disc)
        class_rows = None
        if named:  # the export's own names and table, which clients of the server see too
            held_out = dataclasses.replace(held_out, category_names=named, category_purity=())
            class_rows = category_rows(predictor, sorted({name for row in named for name in row if name})) or None
    except BaseException:
        predictor.close()
        raise
    return Explorer(predictor, layout, held_out, run.data.normalize if run else "none", predictor.servable,
                    class_rows)


def _class_rows(held_out: HeldOut) -> dict[str, list[int]]:
    """``{class name: category row}`` of the names ``held_out`` gives the categories."""
    names = held_out.category_names
    purity = held_out.category_purity or tuple((0.0,) * len(row) for row in names)
    known = sorted({name for row in names for name in row if name})
    return {name: sampling.category_of_class(name, names, purity) for name in known}


def _load_run(run_dir: str) -> RunConfig:
    if not os.path.isdir(run_dir):
        raise ConfigError("run_dir", f"{run_dir}: no such folder; expected a run folder written by `jvae-tf train`")
    return RunConfig.load(RunFolder(run_dir).config)


def _data_url(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` of one image float ``[H, W, C]`` in [0, 1] (pixels as ``pixels.to_uint8``)."""
    values = pixels.to_uint8(image)
    buffer = io.BytesIO()
    Image.fromarray(values[:, :, 0] if values.shape[2] == 1 else values).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def too_large(what: str, size: int, limit: int) -> str:
    return f"{what}: {size / 2 ** 20:.1f} MB is over the {limit / 2 ** 20:g} MB limit"


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), CODE_DECIMALS) for v in values]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value, limit: float = MAX_CODE) -> bool:
    """A JSON number (not a bool) of magnitude at most ``limit``; an integer of hundreds of digits is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return abs(float(value)) <= limit
    except OverflowError:
        return False


def shown(value, limit: int = 80) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
