"""Restarts: train several short candidates from different initial weights and keep the one whose
discrete code the label-free score (:func:`jointvae_tf.evaluation.selection.selection_score`) rates best.

How well a run's discrete code finds the classes depends much on its initial weights, and the
label-free score marks a failed start (a few categories used, or views that disagree) within a few
thousand steps (docs/results/2026-11-27-handwriting.md, "Restarts"). A run with ``TrainConfig.restarts``
N > 1 therefore starts with N candidates that share the run's data, split and batch order and differ only in
the seed of their weights and latent noise (candidate 0 uses the run's own seed, so ``restarts=1`` is a plain
run). Each trains up to ``TrainConfig.restart_steps`` steps (rounded up to whole epochs) without evaluation
or pictures, scored on the same unlabeled validation images every few hundred steps; one that trails the
best so far by a clear margin is dropped at once, and one whose code has collapsed is never kept. The best
goes on to the run's full length, its optimizer and step (hence its capacity schedules) carried over. The scores
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
from jointvae_tf.errors import RunFailure
from jointvae_tf.evaluation.selection import ScoringImages, scored_encoding
from jointvae_tf.training.callbacks import DivergenceGuard


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One candidate start: its index, the seed of its weights and noise, the step it was last scored at,
    its label-free score there (``selection.SelectionScore.to_dict``) and, when it was dropped before the
    end of the restart phase or cannot be kept, why (empty otherwise)."""

    index: int
    seed: int
    step: int
    score: dict[str, float]
    dropped: str = ""


class EveryStartCollapsed(RunFailure):
    """Every candidate's discrete code collapsed: there is no start worth continuing."""


CHECK_STEPS = 500
"""Steps between two scorings of a candidate (rounded to whole epochs)."""

MARGIN = 0.1
"""A candidate whose score trails the best candidate's at the same step by more than this is dropped."""


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
    run's normalisation, scored as ``selection_score`` scores them (seed ``run.train.seed``).

    Each candidate is scored every :data:`CHECK_STEPS` steps (rounded to whole epochs) and at the end of
    the phase: ``restart_steps`` rounded up to whole epochs, or the whole run if that is shorter. A candidate
    whose score trails the best one's at the same step by more than :data:`MARGIN` is dropped there, as soon
    as the score tells them apart. A candidate whose code has collapsed (``SelectionScore.collapsed``) at
    the end is never kept; :class:`EveryStartCollapsed` when all have. The best is the highest score at
    the end among the others, a tie keeping the earlier candidate. Only the best model so far is kept in
    memory; the returned one has trained the whole phase.
    """
    epochs = min(-(-run.train.restart_steps // steps_per_epoch), run.train.epochs_for(steps_per_epoch))
    check_epochs = max(1, round(CHECK_STEPS / steps_per_epoch))
    ends = list(range(check_epochs, epochs, check_epochs)) + [epochs]
    best: JointVAE | None = None
    best_scores: dict[int, float] = {}  # the best candidate's score by epoch
    candidates: list[Candidate] = []
    chosen = None
    scoring = ScoringImages.prepare(unlabeled, seed=run.train.seed, normalize=run.data.normalize)
    for index in range(run.train.restarts):
        seed = candidate_seed(run.train.seed, index)
        keras.utils.set_random_seed(seed)
        model = build(dataclasses.replace(run, train=dataclasses.replace(run.train, seed=seed)))
        scores: dict[int, float] = {}
        dropped = ""
        for start, end in zip([0] + ends[:-1], ends):
            model.fit(dataset, initial_epoch=start, epochs=end, steps_per_epoch=steps_per_epoch,
                      callbacks=[DivergenceGuard()], verbose=verbose, shuffle=False)
            score = scored_encoding(model, scoring)[0]
            scores[end] = score.score
            if best is not None and score.score < best_scores[end] - MARGIN and end < epochs:
                dropped = (f"dropped at step {end * steps_per_epoch}: score {score.score:.3f}, "
                           f"{best_scores[end] - score.score:.3f} below candidate {chosen + 1}'s at that step")
                break
        if not dropped and score.collapsed:
            dropped = f"collapsed: {score.used:.0%} of its categories in use"
        candidates.append(Candidate(index, seed, int(model.training_step.numpy()), score.to_dict(), dropped))
        if verbose:
            print(f"Candidate {index + 1}/{run.train.restarts} (seed {seed}): label-free score {score.score:.3f} "
                  f"(agreement {score.agreement:.3f}, balance {score.balance:.3f}, {score.used:.0%} of categories "
                  f"in use){'; ' + dropped if dropped else ''}")
        if not dropped and (best is None or score.score > candidates[chosen].score["score"]):
            best, chosen, best_scores = model, index, scores
    if best is None:
        raise EveryStartCollapsed(f"restarts: the discrete code of every one of the {run.train.restarts} candidates "
                                  f"collapsed (fewer than half its categories in use); try another seed or more "
                                  f"restarts")
    if verbose:
        print(f"Continuing candidate {chosen + 1} (seed {candidates[chosen].seed}).")
    return best, Restarts(candidates, chosen)
