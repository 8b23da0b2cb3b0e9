"""Which examples of a source's files make up a split, and in which order.

A source has one or two *pools* of examples: ``("train", "test")`` when its files already hold a test
set, else ``("all",)``. The validation split (and, for one pool, the test split) is carved from a pool by
a permutation with a fixed key, so splits never overlap and do not move when the run's seed changes.
The run's seed only orders the chosen examples; ``max_examples`` keeps the first N of that order.
When only some classes are chosen, the pool is first narrowed to their examples, and their labels are
renumbered densely in the order the classes are given.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jointvae_tf.errors import JointVAEError

SPLITS = ("train", "validation", "test")
_PARTITION_KEY = 20_180_523  # fixed: the same examples are held out whatever the run's seed


@dataclasses.dataclass(frozen=True)
class Selection:
    """Split ``split`` of a source with pools ``pools``: read pool :attr:`pool`, keep :meth:`pick`.

    ``classes``: the label ids of the classes to keep, in the order of their new labels (class
    ``classes[i]`` becomes label ``i``); empty keeps every class with its label.
    """

    split: str
    pools: tuple[str, ...]
    validation_fraction: float
    seed: int = 0
    max_examples: int | None = None
    classes: tuple[int, ...] = ()

    def __post_init__(self):
        check_split(self.split)

    @property
    def pool(self) -> str:
        """The pool the split is read from."""
        return "test" if self.split == "test" and "test" in self.pools else self.pools[0]

    def indices(self, pool_size: int) -> np.ndarray:
        """Positions in the pool (of ``pool_size`` examples) of the split's examples, in seeded order."""
        held_out = int(round(self.validation_fraction * pool_size))
        if self.pool == "test":
            chosen = np.arange(pool_size)
        else:
            order = np.random.default_rng(_PARTITION_KEY).permutation(pool_size)
            carved = ("validation",) if "test" in self.pools else ("validation", "test")
            parts = {name: order[i * held_out:(i + 1) * held_out] for i, name in enumerate(carved)}
            chosen = parts.get(self.split, order[len(carved) * held_out:])
        chosen = np.random.default_rng(self.seed).permutation(chosen)
        return chosen[:self.max_examples]

    def pick(self, labels: np.ndarray) -> np.ndarray:
        """Positions of the split's examples in a pool whose labels are ``labels`` (int ``[pool_size]``):
        :meth:`indices` among the examples of the chosen classes."""
        pool = np.flatnonzero(np.isin(labels, self.classes)) if self.classes else np.arange(len(labels))
        return pool[self.indices(len(pool))]

    def relabel(self, labels: np.ndarray) -> np.ndarray:
        """int32 labels of chosen classes' examples, renumbered densely (``classes[i]`` -> ``i``)."""
        if not self.classes:
            return labels.astype(np.int32)
        lookup = np.full(max(self.classes) + 1, -1, np.int32)
        lookup[list(self.classes)] = np.arange(len(self.classes))
        return lookup[labels]


def check_split(split: str) -> None:
    """JointVAEError unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise JointVAEError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
