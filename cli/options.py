"""The train command's settings as flags: each flag sets one RunConfig setting and is unset (None) unless
given, so defaults live only in the config dataclasses and the dataset presets. This module is the one
place that maps setting paths to flags, both ways."""

from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator

import click

from jointvae_tf.core.config import CapacitySchedule, RunConfig
from jointvae_tf.errors import ConfigError, JointVAEError

VERSION = click.IntRange(min=1, max=2 ** 63 - 1)
"""A served model's version: TF-Serving reads versions as positive int64."""


def upscale_option(what: str, default: int | None = None):
    """``--upscale``: whole-pixel enlargement per side of ``what``, ``default`` when not given; None means
    :func:`~jointvae_tf.viz.visualize.default_upscale` of the model's image size (cells of about 64 px)."""
    shown = "64 / image size, at least 1" if default is None else str(default)
    return click.option("--upscale", type=click.IntRange(min=1), default=default,
                        help=f"Pixel enlargement per side of {what} [{shown}].")


_FLAGS: dict[str, str] = {}
"""Setting path -> its flag, filled by :func:`setting_option`."""
_PARAM_SEPARATOR = "__"


def setting_option(flag: str, path: str, per_dataset: bool = False, default_text: str | None = None, **kwargs):
    """A click option for RunConfig setting ``path`` (``"train.batch_size"``); its help shows the config
    default, "per dataset" for a setting the dataset or its preset chooses, or ``default_text``."""
    _FLAGS[path] = flag.split("/")[0]
    default = default_text or ("per dataset" if per_dataset else _config_default(path))
    return click.option(flag, path.replace(".", _PARAM_SEPARATOR), default=None, show_default=default, **kwargs)


def settings_given(options: dict[str, Any]) -> dict[str, Any]:
    """The settings of the flags given, by path: ``{"train.batch_size": 32}``; unset flags are left out."""
    return {name.replace(_PARAM_SEPARATOR, "."): value for name, value in options.items()
            if _PARAM_SEPARATOR in name and value is not None}


def flag_of(path: str) -> str | None:
    """The flag that sets ``path`` or the section holding it (``model.cont_capacity.steps`` ->
    ``--cont-capacity``); None for settings without a flag."""
    return _flag_of(path, _FLAGS)


def flags_of(command: click.Command, **aliases: str) -> dict[str, str]:
    """The flag of each name a library error may use for ``command``'s inputs: its parameter names (``n`` ->
    ``--n``; an argument's name as the usage line shows it: ``run_dir`` -> ``RUN_DIR``), the setting paths
    of its setting options (``train.batch_size`` -> ``--batch-size``), and ``aliases`` for names the
    command passes on under another name (``address`` -> ``--server``)."""
    flags = {}
    for param in command.params:
        if param.name:
            flag = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
            flags[param.name] = flags[param.name.replace(_PARAM_SEPARATOR, ".")] = flag
    return {**flags, **aliases}


def error_in_flags(error: JointVAEError, flags: dict[str, str]) -> None:
    """Rewrite ``error``'s message in the words of ``flags`` (see :func:`flags_of`), in place so that its
    type and exit code stay: the ``argument`` of a ConfigError (a name, or a setting path or the section
    holding it: ``model.cont_capacity.steps`` -> ``--cont-capacity``) at the start, the rest as
    :func:`text_in_flags` does."""
    message = str(error)
    if isinstance(error, ConfigError) and error.argument:
        flag = _flag_of(error.argument, flags)
        if flag is not None:
            message = f"{flag}: {error.problem}"
    error.args = (text_in_flags(message, flags),)


def text_in_flags(text: str, flags: dict[str, str]) -> str:
    """``text`` of the library with the names in ``flags`` written as flags: a name in backquotes
    (`` `server` `` -> ``--server``), a keyword argument ``name=VALUE`` (``resume=True`` -> ``--resume``,
    ``tls_ca=PATH`` -> ``--tls-ca PATH``) and a dotted name (``train.learning_rate`` -> ``--lr``), wherever
    they stand."""
    names = sorted(flags, key=len, reverse=True)  # longest first: train.steps_per_execution before train.steps
    if names:
        quoted = r"`(%s)`" % "|".join(map(re.escape, names))
        text = re.sub(quoted, lambda match: flags[match.group(1)], text)
        keywords = r"(?<![\w.-])(%s)=(True\b)?" % "|".join(map(re.escape, names))
        text = re.sub(keywords, lambda match: flags[match.group(1)] + ("" if match.group(2) else " "), text)
    dotted = [name for name in names if "." in name]
    if dotted:
        paths = r"(?<![\w.-])(%s)(?:\.\w+)*(?![\w-])" % "|".join(map(re.escape, dotted))
        text = re.sub(paths, lambda match: flags[match.group(1)], text)
    return text


def _flag_of(path: str, flags: dict[str, str]) -> str | None:
    while path:
        if path in flags:
            return flags[path]
        path = path.rpartition(".")[0]
    return None


@contextlib.contextmanager
def errors_as_flags(**aliases: str) -> Iterator[None]:
    """Rewrite a library error raised inside in the current command's flags (:func:`error_in_flags`), with
    ``aliases`` for names the command passes on under another name. The ``jvae-tf`` group already does so
    for every command with its own options; a command needs this only for aliases."""
    try:
        yield
    except JointVAEError as error:
        error_in_flags(error, flags_of(click.get_current_context().command, **aliases))
        raise


def _config_default(path: str) -> str:
    value: Any = RunConfig()
    for name in path.split("."):
        value = getattr(value, name)
    return "none" if value is None else str(value)


def parse_disc(ctx, param, value: str | None) -> tuple[int, ...] | None:
    """``--disc 10`` or ``--disc 10,3``; ``--disc none`` for no discrete latent."""
    if value is None:
        return None
    if value.strip().lower() in ("", "none", "0"):
        return ()
    try:
        return tuple(int(k) for k in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected category counts such as 10 or 10,3, got {value!r}") from None


def parse_category(text: str) -> list[int] | str:
    """``--category``: category ids (``3`` or ``3,-1``), or a class name (``star``)."""
    if "," not in text and text.strip() and not text.strip().lstrip("-").isdigit():
        return text.strip()
    try:
        return [int(part) for part in text.split(",")] if text.strip() else []
    except ValueError:
        raise JointVAEError(f"--category: expected integers such as 3 or 3,-1, or a class name, got {text!r}") from None


def parse_names(ctx, param, value: str | None) -> tuple[str, ...] | None:
    """``--classes 0,1,2`` or ``--classes add,sub``: names separated by commas."""
    if value is None:
        return None
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise click.BadParameter(f"expected class names separated by commas, such as 0,1,2, got {value!r}")
    return names


def parse_capacity(ctx, param, value: str | None) -> CapacitySchedule | None:
    """``--cont-capacity MIN,MAX,ITERS``."""
    if value is None:
        return None
    try:
        return CapacitySchedule.parse(value)
    except ConfigError as error:
        raise click.BadParameter(error.problem) from None


def model_source(run: str | None, export: str | None, server: str | None, grpc: str | None,
                 run_name: str = "--run"):
    """The model a command reaches, by one rule for every command: the one of ``--export``, ``--server``,
    ``--grpc`` given (at most one), else the run folder's latest checkpoint; a run folder given beside
    one of them names the model's run folder. ``run_name`` is how the command spells the run folder.

    Returns:
      ``(ModelSource, run folder or None)``.
    """
    from jointvae_tf.serving.sources import ModelSource

    others = {"--export": ("export", export), "--server": ("rest", server), "--grpc": ("grpc", grpc)}
    given = [flag for flag, (_, value) in others.items() if value]
    if len(given) > 1 or not (given or run):
        raise JointVAEError(f"expected {run_name} or one of {', '.join(others)}, got {' and '.join(given) or 'none'}")
    if not given:
        return ModelSource("run", run), run
    kind, location = others[given[0]]
    return ModelSource(kind, location), run
