"""Restarts: train several short candidates from different initial weights and keep the one whose
discrete code the label-free score (:func:`jointvae_tf.evaluation.selection.selection_score`) rates best.

How well a run's discrete code finds the classes depends much on its initial weights, and the
label-free score marks a failed start (a few categories used, or views that disagree) within a few
thousand steps (docs/results/2026-11-27-handwriting.md, "Restarts"). A run with ``TrainConfig.restarts``
N > 1 therefore starts with N candidates that share the run's data, split and batch order and differ only in
the seed of their weights and latent noise (candidate 0 uses the run's own seed, so ``restarts=1`` is a plain
run). Each trains ``TrainConfig.restart_steps`` steps (rounded up to whole epochs) without evaluation or
pictures; each is scored on the same unlabeled validation images; the best goes on to the run's full length,
its optimizer and step (hence its capacity schedules) carried over. The others are dropped. The scores
are written to the run folder's ``restarts.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from jointvae_tf.core.config import RunConfig
from jointvae_tf.core.model import JointVAE
from jointvae_tf.evaluation.selection import selection_score
from jointvae_tf.training.callbacks import DivergenceGuard


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One candidate start: its index, the seed of its weights and noise, the step it was scored at and
    its label-free score (``selection.SelectionScore.to_dict``)."""

    index: int
    seed: int
    step: int
    score: dict[str, float]


def candidate_seed(seed: int, index: int) -> int:
    """The seed of candidate ``index`` of a run with seed ``seed``: the run's own for candidate 0, else one
    drawn from both (so no candidate repeats another run's seed by an offset)."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] % 2**31)


@dataclasses.dataclass(frozen=True)
class Restarts:
    """What the restart phase did: every candidate, and the index of the one continued."""

    candidates: list[Candidate]
    chosen: int

    def write(self, path: str) -> None:
        """``{"chosen": index, "candidates": [...]}`` as JSON at ``path``, atomically."""
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(dataclasses.asdict(self), f, indent=2)
        os.replace(tmp, path)


def best_start(run: RunConfig, build: Callable[[RunConfig], JointVAE], dataset: tf.data.Dataset,
               steps_per_epoch: int, unlabeled: np.ndarray, verbose: int | str = "auto",
               ) -> tuple[JointVAE, Restarts]:
    """Train ``run.train.restarts`` candidates; the best-scored one and what was done.

    ``build(run)``: a compiled, built model for ``run``, ready to fit whole epochs of ``steps_per_epoch``
    (``training.build_model``, its steps per execution fitted to the epoch); ``dataset``: the run's
    repeated training batches; ``unlabeled``: validation images ``[N, H, W, C]`` float in [0, 1] before the
    run's normalisation, scored as ``selection_score`` scores them (seed ``run.train.seed``). The returned
    model has trained ``epochs * steps_per_epoch`` steps, ``epochs`` = ``restart_steps`` rounded up to whole
    epochs, or the whole run if that is shorter. A tie keeps the earlier candidate. Only the best model so
    far is kept in memory.
    """
    epochs = min(-(-run.train.restart_steps // steps_per_epoch), run.train.epochs_for(steps_per_epoch))
    best: JointVAE | None = None
    candidates: list[Candidate] = []
    chosen = 0
    for index in range(run.train.restarts):
        seed = candidate_seed(run.train.seed, index)
        keras.utils.set_random_seed(seed)
        model = build(dataclasses.replace(run, train=dataclasses.replace(run.train, seed=seed)))
        model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=[DivergenceGuard()],
                  verbose=verbose, shuffle=False)
        score = selection_score(model, unlabeled, seed=run.train.seed, normalize=run.data.normalize)
        candidates.append(Candidate(index, seed, int(model.optimizer.iterations.numpy()), score.to_dict()))
        if verbose:
            print(f"Candidate {index + 1}/{run.train.restarts} (seed {seed}): label-free score {score.score:.3f} "
                  f"(agreement {score.agreement:.3f}, balance {score.balance:.3f})")
        if best is None or score.score > candidates[chosen].score["score"]:
            best, chosen = model, index
    if verbose:
        print(f"Continuing candidate {chosen + 1} (seed {candidates[chosen].seed}).")
    return best, Restarts(candidates, chosen)
