"""Which examples of a source's files make up a split, and in which order.

A source has one or two *pools* of examples: ``("train", "test")`` when its files already hold a test
set, else ``("all",)``. The validation split (and, for one pool, the test split) is carved from a pool by
a permutation with a fixed key, so splits never overlap and do not move when the run's seed changes.
The run's seed only orders the chosen examples; ``max_examples`` keeps the first N of that order.
"""

from __future__ import annotations

import dataclasses
import numpy as np

from jointvae_tf.errors import JointVAEError

SPLITS = ("train", "validation", "test")
_PARTITION_KEY = 20_180_523  # fixed: the same examples are held out whatever the run's seed


@dataclasses.dataclass(frozen=True)
class Selection:
    """Split ``split`` of a source with pools ``pools``: read pool :attr:`pool`, keep :meth:`indices`."""

    split: str
    pools: tuple[str, ...]
    validation_fraction: float
    seed: int = 0
    max_examples: int | None = None

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


def check_split(split: str) -> None:
    """JointVAEError unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise JointVAEError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
