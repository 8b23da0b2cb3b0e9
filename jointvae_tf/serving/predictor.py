"""One way to reach an exported model: the :class:`Predictor` protocol, and :func:`sample` on top of it.

A predictor answers the export's signatures (see :mod:`jointvae_tf.serving.export`) by name, wherever the
model is: a SavedModel in this process (:class:`~jointvae_tf.serving.local.LocalPredictor`, from an
export folder or a run's latest checkpoint) or a TensorFlow Serving server
(:class:`~jointvae_tf.serving.client.RestClient`, :class:`~jointvae_tf.serving.client.GrpcClient`).
:func:`~jointvae_tf.serving.sources.open_predictor` opens the right one for a source.

A ``sample`` request has one row per image: ``seed`` int64 ``[N]`` and ``category`` int32 ``[N, n_disc]``
(``-1`` = draw that discrete variable at random). A row with an out-of-range input is answered with a
``row_error`` message, never by failing the whole batch (see :func:`jointvae_tf.core.sampling.row_checks`);
:func:`raise_row_errors` turns such an answer into one error.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from jointvae_tf.core.sampling import RANDOM_CATEGORY
from jointvae_tf.errors import ConfigError, JointVAEError, RunFailure

if TYPE_CHECKING:
    from jointvae_tf.serving.export import ExportConfig

SAMPLE_SIGNATURE = "sample"
SAMPLE_INPUTS = {"seed": ("DT_INT64", 1), "category": ("DT_INT32", 2)}
"""Inputs :func:`sample` sends to the ``sample`` signature: name -> (dtype, rank)."""
MESSAGE_LIMIT = 300
"""Characters of a model's or a server's error text kept in a one-line message."""


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """A signature's input or output as TF-Serving's metadata describes it: dtype name (``DT_FLOAT``) and
    shape (-1 = any size)."""

    dtype: str
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Signature:
    """Inputs and outputs of one signature, by name."""

    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


class Predictor(Protocol):
    """An exported model, reached in this process or over the network.

    Attributes:
      servable: names the model in messages (``export saved_models/m/1``, ``model 'm' at http://...``).
      config: the export's :class:`~jointvae_tf.serving.export.ExportConfig` when the predictor can read
        it (a model in this process), else None (a server tells only its signatures).
      max_batch_size: the most rows one request may hold (TF-Serving's batching limit), None for any.
    """

    servable: str
    config: ExportConfig | None
    max_batch_size: int | None

    def signatures(self) -> dict[str, Signature]:
        """Every signature's inputs and outputs, as the server's metadata describes them."""

    def predict(self, inputs: dict[str, np.ndarray], signature: str = "serving_default") -> dict[str, np.ndarray]:
        """Run ``signature`` on ``inputs`` (name -> array, batch first); its outputs by name, batch first.

        Raises JointVAEError when the model refuses the request, RunFailure when no answer comes or the
        answer is not the signature's.
        """

    def close(self) -> None:
        """Release what the predictor holds (a gRPC channel); it answers no more."""


def sample(predictor: Predictor, n: int, seed: int = 0, category: Sequence[int] | str = ()) -> dict[str, np.ndarray]:
    """``n`` images from the prior through ``predictor``'s ``sample`` signature.

    Image ``k`` is drawn with seed ``seed + k`` and does not depend on ``n``, so every predictor of the same
    export gives the same images. The request is checked against the signature first and sent in parts of
    at most ``predictor.max_batch_size`` rows.

    Args:
      predictor: any :class:`Predictor` of a model written by ``jvae-tf export``.
      n: number of images, >= 1.
      seed: seed of the first image.
      category: one category id per leading discrete variable; missing trailing entries and ``-1`` mean
        random. Or a class name (``"star"``): the categories the export names so (:func:`category_of_class`).

    Returns:
      The signature's outputs: ``images`` float32 ``[n, H, W, C]`` in [0, 1], ``z`` ``[n, cont]``, ``c``
      ``[n, sum(disc)]`` one-hot, ``categories`` int32 ``[n, n_disc]``, ``category_names`` ``[n, n_disc]``
      (the class each holds, empty when unknown), ``png_bytes`` ``[n]`` (PNG files), ``row_error`` ``[n]``
      (all empty).
    """
    if isinstance(category, str):
        category = category_of_class(predictor, category)
    rows = request_rows(n, seed, category, category_counts(predictor))
    step = predictor.max_batch_size or n
    parts = [predictor.predict({name: value[start:start + step] for name, value in rows.items()}, SAMPLE_SIGNATURE)
             for start in range(0, n, step)]
    outputs = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    return raise_row_errors(outputs, f"{predictor.servable}: category={rows['category'][0].tolist()}")


def category_of_class(predictor: Predictor, name: str) -> list[int]:
    """The ``category`` row asking for class ``name``, from the export's ``category_of_class`` signature (per
    discrete variable, its purest category holding that class); ConfigError (``category``) when no category
    holds it, or the export is older than that signature."""
    if "category_of_class" not in predictor.signatures():
        raise ConfigError("category", f"{predictor.servable} has no 'category_of_class' signature: export the run "
                          "again to ask for a class by name, or give category ids")
    outputs = predictor.predict({"class_name": np.array([name.encode()], dtype=object)}, "category_of_class")
    error = outputs["row_error"][0]
    if error:
        raise ConfigError("category", f"{predictor.servable}: {error.decode() if isinstance(error, bytes) else error}")
    return outputs["category"][0].tolist()


def category_rows(predictor: Predictor, names: Sequence[str]) -> dict[str, list[int]]:
    """``{name: category row}`` for the class ``names`` some category holds, in one request to the export's
    ``category_of_class`` signature (the export's own table: see :func:`category_of_class`); ``{}`` for an
    export older than it."""
    if not names or "category_of_class" not in predictor.signatures():
        return {}
    outputs = predictor.predict({"class_name": np.array([name.encode() for name in names], dtype=object)},
                                "category_of_class")
    return {name: row.tolist() for name, row, error in zip(names, outputs["category"], outputs["row_error"])
            if not error}


def export_category_classes(predictor: Predictor, disc: Sequence[int]) -> tuple[tuple[str, ...], ...]:
    """Per discrete variable (category counts ``disc``), the class each category holds as the export names
    it (``ExportConfig.category_classes``; ``""``: none); ``()`` when it names none.

    A model in this process tells its config; a server tells the names through ``sample``'s
    ``category_names`` output: one request of ``max(disc)`` rows, row ``k`` asking for category ``k`` of
    every variable that has one.
    """
    if predictor.config is not None:
        return predictor.config.category_classes
    signature = predictor.signatures().get(SAMPLE_SIGNATURE)
    if not disc or signature is None or "category_names" not in signature.outputs:
        return ()
    rows = max(disc)
    category = np.array([[k if k < count else RANDOM_CATEGORY for count in disc] for k in range(rows)], np.int32)
    outputs = predictor.predict({"seed": np.zeros(rows, np.int64), "category": category}, SAMPLE_SIGNATURE)
    names = tuple(tuple(_text(outputs["category_names"][k][i]) for k in range(count)) for i, count in enumerate(disc))
    return names if any(name for row in names for name in row) else ()


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def check_sample_signature(predictor: Predictor) -> int:
    """Number of discrete variables of ``predictor``'s model, after checking its ``sample`` inputs."""
    signature = predictor.signatures().get(SAMPLE_SIGNATURE)
    found = {name: (info.dtype, len(info.shape)) for name, info in (signature.inputs if signature else {}).items()}
    if found != SAMPLE_INPUTS:
        raise JointVAEError(
            f"{predictor.servable}: signature {SAMPLE_SIGNATURE!r} has inputs {found or 'none (no such signature)'}; "
            f"expected {SAMPLE_INPUTS} (name: (dtype, rank)), as written by `jvae-tf export`")
    return signature.inputs["category"].shape[1]


def category_counts(predictor: Predictor) -> list[int | None]:
    """Category count K_i of each discrete variable of ``predictor``'s model.

    The export's config tells them all; a server's metadata only the width sum(K_i) of ``sample``'s ``c``
    output, so K is known there when there is one variable and ``None`` otherwise (the graph then answers
    an out-of-range row with its ``row_error``).
    """
    n_disc = check_sample_signature(predictor)
    if predictor.config is not None:
        return list(predictor.config.latent.disc)
    width = predictor.signatures()[SAMPLE_SIGNATURE].outputs.get("c", TensorInfo("DT_FLOAT", (-1, -1))).shape[-1]
    return [width] if n_disc == 1 and width >= 0 else [None] * n_disc


def request_rows(n: int, seed: int, category: Sequence[int], counts: Sequence[int | None]) -> dict[str, np.ndarray]:
    """The rows of a ``sample`` request for ``n`` images, after checking ``category`` against ``counts``.

    Args:
      n: number of images, >= 1.
      seed: seed of the first image; image ``k`` gets ``seed + k``.
      category: one category per discrete variable, leading ones first; missing trailing entries and
        ``-1`` mean random.
      counts: the category count K_i of each discrete variable (``len(counts)`` = n_disc); ``None`` where
        the caller does not know it (the graph still answers such a row with a ``row_error``).

    Returns:
      ``{"seed": int64 [n], "category": int32 [n, n_disc]}``, the ``sample`` signature's inputs.
    """
    if int(n) != n or n < 1:
        raise ConfigError("n", f"expected an integer >= 1, got {n}")
    if not -2 ** 63 <= int(seed) <= 2 ** 63 - int(n):
        raise ConfigError("seed", f"expected seed .. seed + n - 1 within int64, got seed {seed} for n {n}")
    category = [int(c) for c in category]
    in_range = [k is None or c < k for c, k in zip(category, counts)]
    if len(category) > len(counts) or any(c < RANDOM_CATEGORY for c in category) or not all(in_range):
        known = ", ".join("?" if k is None else str(k) for k in counts)
        raise ConfigError("category", f"expected up to {len(counts)} values (one per discrete variable), each -1 "
                          f"(random) or a category id below the variable's count [{known}], got {category}")
    category += [RANDOM_CATEGORY] * (len(counts) - len(category))
    return {"seed": np.arange(n, dtype=np.int64) + np.int64(seed),
            "category": np.tile(np.asarray(category, np.int32).reshape(1, len(counts)), (n, 1))}


def raise_row_errors(outputs: dict[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    """``outputs`` of ``sample`` / ``traverse``; JointVAEError naming ``what`` (e.g. ``category=[9]``) and the
    first refused row's message (cleaned by :func:`one_line`) when the graph refused a row."""
    refused = [(row, message) for row, message in enumerate(np.ravel(outputs["row_error"])) if message]
    if refused:
        row, message = refused[0]
        text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
        raise JointVAEError(f"{what}: {one_line(text)} ({len(refused)} of {outputs['row_error'].size} rows refused, "
                            f"first: row {row})")
    return outputs


def check_answer(outputs: dict[str, np.ndarray], signature: Signature, rows: int, servable: str,
                 name: str) -> dict[str, np.ndarray]:
    """``outputs`` of signature ``name`` when they are what it promises: every output it declares, each
    with ``rows`` rows and the declared sizes (-1 = any) and rank; else RunFailure naming ``servable``."""
    for output, info in signature.outputs.items():
        value = outputs.get(output)
        shape = None if value is None else tuple(np.shape(value))
        expected = (rows, *info.shape[1:]) if info.shape else ()
        if shape is None or len(shape) != len(expected) or \
                any(e not in (-1, s) for e, s in zip(expected, shape)):
            raise RunFailure(f"{servable}: the {name} answer's {output!r} has shape {shape}; expected "
                             f"{tuple('?' if e == -1 else e for e in expected)} for {rows} rows")
    return outputs


def one_line(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """A model's or server's error text on one line, safe for a terminal: control characters (newlines,
    escape sequences) become spaces, runs of space collapse, and the text is cut at ``limit`` characters."""
    printable = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in str(message))
    line = " ".join(printable.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."
