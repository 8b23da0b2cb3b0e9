"""Keras progress bars for the slow work outside ``fit``: evaluating a split, drawing pictures, reading data.

Each bar counts ``unit``s (images, pictures, steps) on stdout, as ``fit``'s own bar does; with
``verbose=0`` nothing is shown. A stdout that is not a terminal (a file, a pipe) gets one plain line when a
bar ends, without the bar's colours and carriage returns (:func:`plain_unless_terminal`).
"""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

import keras

T = TypeVar("T")


def plain_unless_terminal(verbose: int | str) -> int | str:
    """Keras' ``verbose`` for a progress display: 1 (a live bar) or ``"auto"`` becomes 2 (one plain line
    per epoch or bar) when stdout is not a terminal; Keras' bar would fill a log file with colour codes and
    carriage returns. Other values are returned unchanged."""
    if verbose in (1, "auto"):
        return 1 if sys.stdout.isatty() else 2
    return verbose


class Progress:
    """A bar of ``total`` units that :meth:`advance` moves; ``title`` is printed first on its own line.

    :meth:`extend` adds units once later work is known (the pictures to draw depend on the encoding).
    """

    def __init__(self, title: str, total: int, unit: str = "step", verbose: int = 1):
        self.done = 0
        self.bar = (keras.utils.Progbar(max(total, 1), unit_name=unit, verbose=plain_unless_terminal(verbose))
                    if verbose else None)
        if self.bar is not None:
            print(title, flush=True)

    def extend(self, units: int) -> None:
        if self.bar is not None:
            self.bar.target += units

    def finish(self) -> None:
        """Fill the bar (work planned but skipped, such as scores that do not apply)."""
        if self.bar is not None:
            self.done = self.bar.target
            self.bar.update(self.done)

    def advance(self, units: int = 1) -> None:
        self.done += units
        if self.bar is not None:
            self.bar.update(self.done)


def tracked(items: Iterable[T], progress: Progress | None, units=lambda item: 1) -> Iterator[T]:
    """``items`` unchanged, advancing ``progress`` (if any) by ``units(item)`` after each one is consumed."""
    for item in items:
        yield item
        if progress is not None:
            progress.advance(units(item))
