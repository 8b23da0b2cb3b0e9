"""Rotations of the invariance term, its disagreement closed form, and its place in the objective."""

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from jointvae_tf.core import distribute, invariance
from jointvae_tf.core.config import (
    ConfigError,
    InvarianceConfig,
    LatentSpec,
    LossConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from jointvae_tf.training.trainer import build_model


def rotate(images, angles):
    """Rotation only: ``invariance.warp`` with scale 1 and no shift."""
    count = len(angles)
    return invariance.warp(images, tf.constant(angles), tf.ones([count]), tf.zeros([count, 2]))


def test_quarter_and_half_turns_are_exact_and_counter_clockwise():
    images = np.random.default_rng(0).random((3, 8, 8, 2)).astype("float32")
    rotated = rotate(images, [math.pi / 2, math.pi, 0.0]).numpy()
    np.testing.assert_allclose(rotated[0], np.rot90(images[0]), atol=1e-5)  # np.rot90: counter-clockwise
    np.testing.assert_allclose(rotated[1], np.rot90(images[1], 2), atol=1e-5)
    np.testing.assert_allclose(rotated[2], images[2], atol=1e-6)


def test_rotation_keeps_a_centred_disc_and_blanks_what_comes_from_outside():
    size = 32
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    disc = (np.hypot(yy, xx) < 8).astype("float32")[None, :, :, None]
    rotated = rotate(disc, [0.7]).numpy()
    assert np.abs(rotated - disc).mean() < 0.02
    ones = rotate(np.ones((1, size, size, 1), "float32"), [math.pi / 4]).numpy()
    assert ones[0, 0, 0, 0] == 0.0 and ones[0, size // 2, size // 2, 0] == pytest.approx(1.0)


def test_whole_pixel_shifts_move_the_image_and_scaling_moves_a_pixel_along_its_ray():
    images = np.random.default_rng(1).random((1, 9, 9, 1)).astype("float32")
    shifted = invariance.warp(images, tf.zeros([1]), tf.ones([1]), tf.constant([[2.0, -1.0]])).numpy()
    np.testing.assert_allclose(shifted[0, 2:, :-1], images[0, :-2, 1:], atol=1e-5)  # 2 down, 1 left
    assert np.all(shifted[0, :2] == 0) and np.all(shifted[0, :, -1] == 0)
    dot = np.zeros((1, 9, 9, 1), "float32")
    dot[0, 4, 6] = 1.0  # 2 pixels right of the centre (4, 4)
    doubled = invariance.warp(dot, tf.zeros([1]), tf.constant([2.0]), tf.zeros([1, 2])).numpy()[0, ..., 0]
    assert doubled[4, 8] == pytest.approx(1.0) and doubled[4, 6] == 0.0  # 2 -> 4 pixels from the centre


def test_random_transform_stays_within_its_limits():
    # A single bright pixel right of the centre moves on a circle; its angle is the rotation's.
    image = np.zeros((200, 33, 33, 1), "float32")
    image[:, 16, 26] = 1.0
    only_rotation = InvarianceConfig(rotation=30.0, weight=1.0)
    rotated = invariance.random_transform(image, only_rotation, tf.constant([1, 2])).numpy()[..., 0]
    ys, xs = np.mgrid[:33, :33] - 16
    angles = np.degrees(np.arctan2(-(rotated * ys).sum((1, 2)), (rotated * xs).sum((1, 2))))
    assert np.all(np.abs(angles) <= 30.5) and angles.min() < -20 and angles.max() > 20
    only_scale = InvarianceConfig(scale=0.25, weight=1.0)
    scaled = invariance.random_transform(image, only_scale, tf.constant([3, 4])).numpy()[..., 0]
    radius = np.hypot((scaled * ys).sum((1, 2)), (scaled * xs).sum((1, 2))) / scaled.sum((1, 2))
    assert np.all((radius >= 10 / 1.25 - 0.05) & (radius <= 10 * 1.25 + 0.05)) and np.ptp(radius) > 3
    only_shift = InvarianceConfig(shift=3.0, weight=1.0)
    shifted = invariance.random_transform(image, only_shift, tf.constant([5, 6])).numpy()[..., 0]
    moves = np.stack([(shifted * ys).sum((1, 2)), (shifted * xs).sum((1, 2)) - 10], -1) / shifted.sum((1, 2))[:, None]
    assert np.all(np.abs(moves) <= 3.01) and np.all(np.abs(moves).max(0) > 2)


def test_disagreement_is_minus_log_probability_that_both_views_agree():
    p = np.array([[0.7, 0.2, 0.1]])
    q = np.array([[0.1, 0.3, 0.6]])
    value = float(invariance.disagreement(tf.math.log(p), tf.math.log(q)))
    assert value == pytest.approx(-math.log(0.07 + 0.06 + 0.06), rel=1e-5)
    confident = tf.constant([[20.0, 0.0, 0.0]])
    assert float(invariance.disagreement(confident, confident)) == pytest.approx(0.0, abs=1e-6)
    assert float(invariance.disagreement(tf.zeros([1, 4]), tf.zeros([1, 4]))) == pytest.approx(math.log(4))


def test_information_gap_is_log_k_minus_the_mutual_information_of_the_symmetrised_joint():
    confident = lambda categories, k: tf.one_hot(categories, k) * 40.0
    # Each view confidently shares its image's category, the 4 categories equally used: I = log 4, gap 0.
    assert float(invariance.information_gap(confident([0, 1, 2, 3], 4), confident([0, 1, 2, 3], 4))) == \
        pytest.approx(0.0, abs=1e-5)
    # Agreeing but all in one category (the collapse the balance term guards against): I = 0, gap log 4.
    assert float(invariance.information_gap(confident([2, 2, 2, 2], 4), confident([2, 2, 2, 2], 4))) == \
        pytest.approx(math.log(4), abs=1e-5)
    # Two categories equally used, the second view independent of the first: I = 0, gap log 2.
    assert float(invariance.information_gap(confident([0, 0, 1, 1], 2), confident([0, 1, 0, 1], 2))) == \
        pytest.approx(math.log(2), abs=1e-5)
    # Soft assignments against the formula: P = sym(mean_x p q^T), I = sum P log(P / (P_k P_l)).
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    q = np.array([[0.5, 0.4, 0.1], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    joint = p.T @ q / 3
    joint = (joint + joint.T) / 2
    marginal = joint.sum(1)
    expected = math.log(3) - float((joint * np.log(joint / np.outer(marginal, marginal))).sum())
    value = float(invariance.information_gap(tf.math.log(tf.constant(p, tf.float32)), tf.math.log(tf.constant(q, tf.float32))))
    assert value == pytest.approx(expected, rel=1e-4)
    # The per-image agreement cannot see the collapse: it is 0 there.
    assert float(invariance.disagreement(confident([2, 2, 2, 2], 4), confident([2, 2, 2, 2], 4))) == \
        pytest.approx(0.0, abs=1e-5)


def test_objective_adds_the_weighted_disagreement_only_when_active():
    images = np.random.default_rng(1).random((6, 32, 32, 1)).astype("float32")

    def terms(rotation, weight):
        """The terms of one model (same weights, same sampling seed every call) under an invariance setting."""
        config = ModelConfig(latent=LatentSpec(2, (3,)), loss=LossConfig(gamma=2.0),
                             invariance=InvarianceConfig(rotation=rotation, weight=weight))
        keras.utils.set_random_seed(0)
        model = build_model(RunConfig(model=config))
        return {k: float(v) for k, v in model.compute_terms(images, training=True).items()}

    without = terms(90.0, 0.0)
    assert without["disc_disagreement"] == 0.0
    assert terms(0.0, 5.0) == without  # no rotation: nothing to agree on
    active = terms(90.0, 5.0)
    assert active["disc_disagreement"] > 0
    assert active["loss"] - without["loss"] == pytest.approx(5.0 * active["disc_disagreement"], rel=1e-4)
    assert {k: v for k, v in active.items() if k not in ("loss", "disc_disagreement")} == \
        {k: v for k, v in without.items() if k not in ("loss", "disc_disagreement")}


def test_the_configured_objective_scores_the_two_views():
    images = np.random.default_rng(2).random((8, 32, 32, 1)).astype("float32")
    seed = tf.constant([3, 4])

    def terms_and_logits(objective):
        config = ModelConfig(latent=LatentSpec(2, (3,)), loss=LossConfig(gamma=2.0),
                             invariance=InvarianceConfig(rotation=90.0, weight=1.0, objective=objective))
        keras.utils.set_random_seed(0)
        model = build_model(RunConfig(model=config))
        head = model.encoder.layers[-1]  # sharpened, so that the two objectives tell apart
        head.set_weights([weight * 30.0 for weight in head.get_weights()])
        terms = model.compute_terms(images, training=False, seed=seed)
        _, rotation_seed = tf.unstack(tf.random.experimental.stateless_split(distribute.replica_seed(seed), 2))
        rotated = invariance.random_transform(images, config.invariance, rotation_seed)
        return terms, model.encode(images, False).logits[0], model.encode(rotated, False).logits[0]

    values = {}
    for objective, function in invariance.OBJECTIVES.items():
        terms, logits, rotated_logits = terms_and_logits(objective)
        values[objective] = float(terms["disc_disagreement"])
        assert values[objective] == pytest.approx(float(function(logits, rotated_logits)), rel=1e-5)
    assert values["agreement"] != pytest.approx(values["mutual_information"], rel=1e-2)
    with pytest.raises(ConfigError, match="objective"):
        InvarianceConfig(objective="cosine")


def test_training_with_invariance_runs_under_xla():
    run = RunConfig(model=ModelConfig(latent=LatentSpec(2, (3,)), invariance=InvarianceConfig(180.0, 10.0)),
                    train=TrainConfig(jit_compile=True, steps_per_execution=2))
    model = build_model(run)
    dataset = tf.data.Dataset.from_tensors(np.random.default_rng(2).random((8, 32, 32, 1)).astype("float32"))
    logs = model.fit(dataset.repeat(4), epochs=1, verbose=0).history
    assert np.isfinite(logs["disc_disagreement"][-1]) and logs["disc_disagreement"][-1] > 0


def test_the_term_every_second_step_is_twice_the_term_on_even_steps_and_absent_on_odd_ones():
    config = ModelConfig(latent=LatentSpec(2, (3,)), invariance=InvarianceConfig(180.0, 10.0, every=2))
    keras.utils.set_random_seed(0)
    model = build_model(RunConfig(model=config))
    images = tf.constant(np.random.default_rng(3).random((8, 32, 32, 1)).astype("float32"))
    seed = tf.constant([4, 5])
    every_step = {step: model.compute_terms(images, training=True, step=step, seed=seed) for step in (6, 7)}
    model.config = dataclasses.replace(config, invariance=dataclasses.replace(config.invariance, every=1))
    measured = {step: model.compute_terms(images, training=True, step=step, seed=seed) for step in (6, 7)}
    model.config = config
    assert float(measured[6]["disc_disagreement"]) > 0
    assert float(every_step[6]["disc_disagreement"]) == pytest.approx(2 * float(measured[6]["disc_disagreement"]),
                                                                      rel=1e-5)
    assert float(every_step[7]["disc_disagreement"]) == 0.0
    without_term = float(measured[7]["loss"]) - 10.0 * float(measured[7]["disc_disagreement"])
    assert float(every_step[7]["loss"]) == pytest.approx(without_term, rel=1e-5)
    evaluated = model.compute_terms(images, training=False, step=7, seed=seed)  # evaluation always measures it
    assert float(evaluated["disc_disagreement"]) > 0
    with pytest.raises(ConfigError, match="^every: expected an integer >= 1"):
        InvarianceConfig(every=0)


def test_training_with_the_term_every_second_step_runs_under_xla():
    run = RunConfig(model=ModelConfig(latent=LatentSpec(2, (3,)), invariance=InvarianceConfig(180.0, 10.0, every=2)),
                    train=TrainConfig(jit_compile=True, steps_per_execution=2))
    model = build_model(run)
    dataset = tf.data.Dataset.from_tensors(np.random.default_rng(2).random((8, 32, 32, 1)).astype("float32"))
    logs = model.fit(dataset.repeat(4), epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][-1]) and logs["disc_disagreement"][-1] > 0  # mean of 2x, 0, 2x, 0
    assert int(model.training_step.numpy()) == 4


def test_invariance_round_trips_through_the_run_config():
    run = RunConfig(model=ModelConfig(invariance=InvarianceConfig(45.0, 3.0)))
    assert RunConfig.from_dict(run.to_dict()) == run
    old = run.to_dict()
    del old["model"]["invariance"]  # config.json written before the invariance term existed
    assert RunConfig.from_dict(old).model.invariance == InvarianceConfig()


def test_thickness_change_widens_or_thins_strokes_by_one_pixel():
    line = np.zeros((3, 9, 9, 1), "float32")
    line[:, :, 3:5] = 1.0  # a vertical stroke two pixels wide
    changed = invariance.change_thickness(line, tf.constant([1.0, -1.0, 0.0])).numpy()[..., 0]
    assert changed[0, 4].tolist() == [0, 0, 1, 1, 1, 1, 0, 0, 0]  # dilated: one pixel more each side
    assert changed[1].max() == 0.0  # eroded: a 2-pixel stroke has no pixel whose 3x3 is all ink
    np.testing.assert_array_equal(changed[2], line[2, ..., 0])
    half = invariance.change_thickness(line[:1], tf.constant([0.5])).numpy()[0, 4, :, 0]
    assert half.tolist() == [0, 0, 0.5, 1, 1, 0.5, 0, 0, 0]


def disc_images(count=1, size=32, radius=8.0):
    """``count`` filled discs of ``radius`` pixels, centred, level 1 on 0: ``[count, size, size, 1]``."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    disc = (np.hypot(yy, xx) < radius).astype("float32")
    return np.repeat(disc[None, :, :, None], count, axis=0)


def test_outline_of_a_filled_disc_is_a_ring_with_an_empty_centre():
    disc = disc_images()
    ring = invariance.outline(disc).numpy()[0, ..., 0]
    yy, xx = np.mgrid[:32, :32] - 15.5
    distance = np.hypot(yy, xx)
    assert np.all(ring[np.abs(distance - 8) > 1.5] == 0)  # empty centre and ground: only the edge is drawn
    assert np.all(ring[np.abs(distance - 8) < 0.5] == 1)  # the whole edge, all round


def test_hatching_keeps_the_outline_and_stripes_the_fill():
    disc = disc_images()
    hatched = invariance.hatch(disc, tf.constant([0.0]), tf.constant([4.0]), tf.constant([0.0])).numpy()[0, ..., 0]
    ring = invariance.outline(disc).numpy()[0, ..., 0]
    assert np.all(hatched >= ring) and np.all(hatched <= np.maximum(disc[0, ..., 0], ring))
    inside = np.hypot(*(np.mgrid[:32, :32] - 15.5)) < 6
    assert hatched[inside].mean() == pytest.approx(0.5, abs=0.1)  # half of each 4-pixel period is ink
    assert hatched[16, 10:22].tolist() == [0, 0, 1, 1] * 3  # angle 0: vertical stripes, columns 4k and 4k + 1


def test_contrast_raises_the_ground_and_dims_the_ink_within_its_limits():
    levels = np.array([0.0, 0.5, 1.0], "float32")[None, :, None, None]
    changed = invariance.change_contrast(levels, tf.constant([0.2]), tf.constant([0.5])).numpy()[0, :, 0, 0]
    np.testing.assert_allclose(changed, [0.2, 0.4, 0.6], atol=1e-6)
    images = np.zeros((200, 4, 4, 1), "float32")
    images[:, :2] = 1.0
    styled = invariance.restyle(images, InvarianceConfig(contrast=0.3, weight=1.0), tf.constant([1, 2])).numpy()
    ground, ink = styled[:, 3, 0, 0], styled[:, 0, 0, 0]
    assert np.all((ground >= 0) & (ground <= 0.3)) and np.ptp(ground) > 0.2
    assert np.all(ink - ground >= 0.7 * 0.7 - 1e-6) and np.all(ink <= 1.0)


def test_noise_stays_in_range_with_a_deviation_up_to_its_limit():
    images = np.full((100, 32, 32, 1), 0.5, "float32")
    noisy = invariance.restyle(images, InvarianceConfig(noise=0.1, weight=1.0), tf.constant([3, 4])).numpy()
    deviations = noisy.reshape(100, -1).std(axis=1)
    assert np.all(deviations < 0.11) and deviations.max() > 0.08 and deviations.min() < 0.02
    clipped = invariance.restyle(images * 2, InvarianceConfig(noise=1.0, weight=1.0), tf.constant([3, 4])).numpy()
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


def test_styles_are_drawn_with_their_probabilities():
    discs = disc_images(300)
    config = InvarianceConfig(outline=0.3, hatch=0.5, weight=1.0)
    styled = invariance.restyle(discs, config, tf.constant([5, 6])).numpy()
    ring = invariance.outline(discs[:1]).numpy()
    outlined = np.all(styled == ring, axis=(1, 2, 3))
    unchanged = np.all(styled == discs, axis=(1, 2, 3))
    hatched = ~outlined & ~unchanged
    assert 60 < outlined.sum() < 120 and 120 < hatched.sum() < 180 and 30 < unchanged.sum() < 90
    inside = np.hypot(*(np.mgrid[:32, :32] - 15.5)) < 6
    fill = styled[hatched][:, inside, 0].mean(axis=1)
    assert np.all((fill > 0.3) & (fill < 0.7)) and np.all(styled[hatched] >= ring)  # stripes inside the outline


def test_style_settings_at_zero_change_nothing_and_keep_the_moves_draws():
    images = np.random.default_rng(3).random((5, 16, 16, 1)).astype("float32")
    seed = tf.constant([7, 8])
    assert np.array_equal(invariance.random_transform(images, InvarianceConfig(weight=1.0), seed).numpy(), images)
    # The moves draw from the same seeds as before the style settings existed: runs stay reproducible.
    moves = InvarianceConfig(rotation=40.0, scale=0.2, shift=2.0, thickness=0.5, weight=1.0)
    angle_seed, scale_seed, shift_seed, thickness_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    angles = tf.random.stateless_uniform([5], angle_seed, -math.radians(40.0), math.radians(40.0))
    scales = tf.exp(tf.random.stateless_uniform([5], scale_seed, -math.log(1.2), math.log(1.2)))
    shifts = tf.random.stateless_uniform([5, 2], shift_seed, -2.0, 2.0)
    amounts = tf.random.stateless_uniform([5], thickness_seed, -0.5, 0.5)
    expected = invariance.change_thickness(invariance.warp(images, angles, scales, shifts), amounts).numpy()
    # Equal up to float rounding: the moves run as one compiled kernel, whose fused arithmetic rounds otherwise.
    np.testing.assert_allclose(invariance.random_transform(images, moves, seed).numpy(), expected, atol=1e-6)


def test_style_settings_count_as_transforms_and_round_trip_through_the_run_config():
    assert InvarianceConfig(outline=0.5, weight=1.0).active and InvarianceConfig(noise=0.1, weight=1.0).active
    assert not InvarianceConfig(outline=0.5, hatch=0.5, contrast=0.5, noise=0.5).active  # weight 0
    run = RunConfig(model=ModelConfig(invariance=InvarianceConfig(30.0, 3.0, outline=0.25, hatch=0.25,
                                                                  contrast=0.4, noise=0.05)))
    assert RunConfig.from_dict(run.to_dict()) == run
    old = run.to_dict()
    for name in ("outline", "hatch", "contrast", "noise"):
        del old["model"]["invariance"][name]  # config.json written before the style settings existed
    assert RunConfig.from_dict(old).model.invariance == InvarianceConfig(30.0, 3.0)


def test_training_with_style_invariance_runs_under_xla():
    styles = InvarianceConfig(outline=0.3, hatch=0.3, contrast=0.3, noise=0.05, weight=3.0)
    run = RunConfig(model=ModelConfig(latent=LatentSpec(2, (3,)), invariance=styles),
                    train=TrainConfig(jit_compile=True, steps_per_execution=2))
    model = build_model(run)
    dataset = tf.data.Dataset.from_tensors(disc_images(8))
    logs = model.fit(dataset.repeat(4), epochs=1, verbose=0).history
    assert np.isfinite(logs["disc_disagreement"][-1]) and logs["disc_disagreement"][-1] > 0
