"""Each reconstruction loss at its special cases against closed forms."""

import math

import numpy as np
import pytest
import tensorflow as tf

from jointvae_tf.core import losses
from jointvae_tf.core.config import RECONSTRUCTION_LOSSES, LossConfig
from jointvae_tf.errors import JointVAEError

R = np.linspace(-3, 3, 61).astype("float32")


@pytest.mark.parametrize("alpha,closed_form", [
    (2.0, lambda z: 0.5 * z ** 2),
    (0.0, lambda z: np.log(0.5 * z ** 2 + 1)),
    (1.0, lambda z: np.sqrt(z ** 2 + 1) - 1),
    (-2.0, lambda z: 2 * z ** 2 / (z ** 2 + 4)),
    (-math.inf, lambda z: 1 - np.exp(-0.5 * z ** 2)),
])
def test_general_rho_special_cases(alpha, closed_form):
    scale = 0.7
    np.testing.assert_allclose(losses.general_rho(R, alpha, scale), closed_form(R / scale), rtol=1e-5, atol=1e-6)


def test_general_rho_is_continuous_near_special_alphas():
    for alpha in (2.0, 0.0):
        near = losses.general_rho(R, alpha + 1e-4, 1.0)
        np.testing.assert_allclose(near, losses.general_rho(R, alpha, 1.0), rtol=2e-3, atol=1e-3)


@pytest.mark.parametrize("alpha,expected", [
    (2.0, math.sqrt(2 * math.pi)),
    (0.0, math.pi * math.sqrt(2)),
    (1.0, 2 * math.e * 0.6019072301972346),  # 2 e K_1(1)
])
def test_log_partition_closed_forms(alpha, expected):
    assert losses.log_partition(alpha) == pytest.approx(math.log(expected), rel=1e-5)


def test_log_partition_numeric_path_agrees_with_closed_form_at_two():
    assert losses.log_partition(1.999999) == pytest.approx(0.5 * math.log(2 * math.pi), abs=1e-4)


def test_nll_form_rejects_negative_alpha():
    with pytest.raises(JointVAEError, match="alpha"):
        losses.log_partition(-2.0)


def test_bce_equals_closed_form_summed_over_pixels():
    rng = np.random.default_rng(0)
    targets = rng.uniform(size=(3, 4, 4, 1)).astype("float32")
    logits = rng.normal(size=(3, 4, 4, 1)).astype("float32")
    p = 1 / (1 + np.exp(-logits))
    expected = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).sum(axis=(1, 2, 3))
    got = losses.reconstruction_loss(targets, logits, LossConfig(kind="bce"))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_mse_rho_form_and_gaussian_nll_form():
    targets = np.full((1, 2, 2, 1), 0.75, "float32")
    logits = np.zeros((1, 2, 2, 1), "float32")  # prediction 0.5, residual 0.25
    rho = losses.reconstruction_loss(targets, logits, LossConfig(kind="mse", form="rho", scale=0.5))
    np.testing.assert_allclose(rho, [4 * 0.5 * 0.5 ** 2], rtol=1e-6)
    sigma = 0.2
    nll = losses.reconstruction_loss(targets, logits, LossConfig(kind="mse", form="nll"), tf.math.log(sigma))
    gaussian = -np.log(np.exp(-0.5 * (0.25 / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)))
    np.testing.assert_allclose(nll, [4 * gaussian], rtol=1e-5)


def test_cauchy_nll_is_cauchy_density():
    targets = np.full((1, 1, 1, 1), 0.9, "float32")
    logits = np.zeros((1, 1, 1, 1), "float32")
    c = 0.3
    nll = losses.reconstruction_loss(targets, logits, LossConfig(kind="cauchy", form="nll"), tf.math.log(c))
    density = 1 / (c * math.pi * math.sqrt(2) * (0.5 * (0.4 / c) ** 2 + 1))
    np.testing.assert_allclose(nll, [-math.log(density)], rtol=1e-5)


def test_general_kind_uses_its_alpha_and_the_robust_nll_forms_learn_the_scale():
    targets = np.full((1, 1, 1, 1), 0.9, "float32")
    logits = np.zeros((1, 1, 1, 1), "float32")  # residual 0.4
    charbonnier = losses.reconstruction_loss(targets, logits, LossConfig(kind="general", alpha=1.0, form="rho", scale=0.5))
    np.testing.assert_allclose(charbonnier, [math.sqrt((0.4 / 0.5) ** 2 + 1) - 1], rtol=1e-5)
    learned = [kind for kind in RECONSTRUCTION_LOSSES for form in ("rho", "nll")
               if losses.uses_learned_scale(LossConfig(kind=kind, form=form))]
    assert learned == ["mse", "cauchy", "general"]
    assert not any(losses.uses_learned_scale(LossConfig(kind=kind, form="rho")) for kind in RECONSTRUCTION_LOSSES)
