"""Keras progress bars for the slow work outside ``fit``: evaluating a split, drawing pictures, reading data.

Each bar counts ``unit``s (images, pictures, steps) on stdout, as ``fit``'s own bar does; with
``verbose=0`` nothing is shown. A non-interactive stdout (a file, a pipe) gets one line when a bar ends.
"""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

import keras

T = TypeVar("T")


class Progress:
    """A bar of ``total`` units that :meth:`advance` moves; ``title`` is printed first on its own line.

    :meth:`extend` adds units once later work is known (the pictures to draw depend on the encoding).
    """

    def __init__(self, title: str, total: int, unit: str = "step", verbose: int = 1):
        self.done = 0
        self.bar = keras.utils.Progbar(max(total, 1), unit_name=unit, verbose=verbose) if verbose else None
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
