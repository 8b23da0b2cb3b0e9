"""The train command's settings as flags: each flag sets one RunConfig setting and is unset (None) unless
given, so defaults live only in the config dataclasses and the dataset presets. This module is the one
place that maps setting paths to flags, both ways."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import click

from jointvae_tf.core.config import CapacitySchedule, RunConfig
from jointvae_tf.errors import ConfigError, JointVAEError

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
    while path:
        if path in _FLAGS:
            return _FLAGS[path]
        path = path.rpartition(".")[0]
    return None


@contextlib.contextmanager
def errors_as_flags() -> Iterator[None]:
    """Re-raise a ConfigError about a setting that has a flag as a JointVAEError naming the flag."""
    try:
        yield
    except ConfigError as error:
        flag = flag_of(error.argument)
        if flag is None:
            raise
        raise JointVAEError(f"{flag}: {error.problem}") from None


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
