"""Parsers for the CLI's compound flags; each raises click.BadParameter naming the flag."""

from __future__ import annotations

import click

from jointvae_tf.config import CapacitySchedule
from jointvae_tf.errors import JointVAEError


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


def parse_capacity(ctx, param, value: str | None) -> CapacitySchedule | None:
    """``--cont-capacity MIN,MAX,ITERS``."""
    if value is None:
        return None
    try:
        return CapacitySchedule.parse(value, f"--{param.name.replace('_', '-')}")
    except JointVAEError as error:
        raise click.BadParameter(str(error).split(": ", 1)[1]) from None
