"""Numpy work over large image arrays on every core.

numpy's and TensorFlow's loops release the GIL, so threads that each take a chunk of an array run in
parallel; the results come back in the chunks' order, so work that depends on order (a random stream)
stays with the caller and the output does not depend on the number of cores.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import os
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_order(work: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``work(item)`` for each of ``items``, computed on as many threads as the machine has cores (at most
    two items ahead of the one consumed per thread), yielded in the items' order."""
    workers = os.cpu_count() or 1
    items = iter(items)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending = collections.deque(pool.submit(work, item) for item in itertools.islice(items, 2 * workers))
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(work, item) for item in itertools.islice(items, 1))
            yield result
