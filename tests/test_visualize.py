"""Pictures of a model: pixel sizes, row order and labels, GIF frame counts, the training-progress callback."""

import os

import numpy as np
import pytest
from PIL import Image

from jointvae_tf.core.config import LatentSpec, ModelConfig, RunConfig, TrainConfig
from jointvae_tf.data import pixels
from jointvae_tf.core.sampling import category_of_class
from jointvae_tf.errors import ConfigError
from jointvae_tf.evaluation import metrics
from jointvae_tf.evaluation.inference import encode_dataset
from jointvae_tf.evaluation.metrics import INACTIVE_KL
from jointvae_tf.training.trainer import build_model
from jointvae_tf.viz import pictures
from jointvae_tf.viz.visualize import (
    ProgressPictures,
    category_labels,
    category_members_picture,
    category_traversal_picture,
    pad_to_common_shape,
    reconstruction_picture,
    samples_picture,
    traversal_gif_frames,
    traversal_picture,
    traversal_rows,
    write_pictures,
)

SIZE, FACTOR, STEPS = 32, 2, 10
CELL = FACTOR * (SIZE + 2)  # an upscaled cell with its gutter


def grid_height(rows):
    return rows * CELL + 2 * FACTOR


def build(latent=LatentSpec(3, (4,))):
    """An untrained model whose decoder ignores z1 and follows z0 strongly: traversing z0 must change the
    picture, traversing z1 must not."""
    run = RunConfig(model=ModelConfig(image_size=SIZE, channels=1, latent=latent, hidden_units=32),
                    train=TrainConfig(batch_size=8))
    model = build_model(run)
    hidden = model.decoder.get_layer("hidden")
    kernel, bias = hidden.get_weights()
    kernel[0] *= 20
    kernel[1] = 0
    hidden.set_weights([kernel, bias])
    return model


@pytest.fixture(scope="module")
def model():
    return build()


def cells(picture, rows, cols):
    """The ``[rows, cols, FACTOR * SIZE, FACTOR * SIZE, C]`` decoded images of a (labelled) grid picture."""
    grid = picture[:, picture.shape[1] - (cols * CELL + 2 * FACTOR):]
    side = FACTOR * SIZE
    return np.array([[grid[2 * FACTOR + r * CELL:][:side, 2 * FACTOR + c * CELL:][:, :side] for c in range(cols)]
                     for r in range(rows)])


def closed_form_kl_per_dim(model, images):
    """Mean KL(q(z_d | x) || N(0, 1)) per continuous dim from the encoder's outputs, ``[cont]`` nats."""
    encoding = model.encode(images)
    mean, log_var = encoding.mean.numpy(), encoding.log_var.numpy()
    return (0.5 * (mean ** 2 + np.exp(log_var) - 1 - log_var)).mean(axis=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((24, SIZE, SIZE, 1)).astype(np.float32)


def test_rows_sort_continuous_dims_by_kl_with_inactive_ones_grey_and_last():
    order, labels, inactive = traversal_rows([0.001, 2.1, 0.5], [1.3], sort=True)
    assert order.tolist() == [1, 2, 0]
    assert labels == ["z1 KL 2.10", "z2 KL 0.50", "z0 KL 0.00", "c0 KL 1.30"]
    assert inactive == [False, False, True, False]
    order, labels, _ = traversal_rows([0.001, 2.1, 0.5], [1.3], sort=False)
    assert order.tolist() == [0, 1, 2] and labels[0] == "z0 KL 0.00"


def test_traversal_grid_has_one_row_per_continuous_dim_and_discrete_variable(model):
    picture = traversal_picture(model, np.array([0.0, 1.0, 2.0]), np.array([0.5]), STEPS, FACTOR)
    assert picture.dtype == np.uint8
    assert picture.shape[0] == grid_height(3 + 1)
    assert picture.shape[1] > STEPS * CELL + 2 * FACTOR  # grid plus the label strip
    rows = cells(picture, 4, STEPS)  # sorted by KL: z2, z1, z0, c0
    assert all(np.array_equal(cell, rows[1, 0]) for cell in rows[1])  # z1 does not reach the decoder
    assert not np.array_equal(rows[2, 0], rows[2, -1])  # z0 from 5 % to 95 % of its prior
    assert not np.array_equal(rows[3, 0], rows[3, 1])  # c0 = 0, then c0 = 1


def test_category_traversal_has_one_row_per_category(model):
    picture = category_traversal_picture(model, cont_dim=1, disc_index=0, steps=7, factor=FACTOR)
    assert picture.shape[0] == grid_height(4)
    assert picture.shape[1] > 7 * CELL


def test_gif_frames_sweep_a_grid_of_categories_by_samples(model):
    frames = traversal_gif_frames(model, cont_dim=0, n_frames=12, n_per_category=5, factor=FACTOR)
    assert len(frames) == 12
    assert {f.shape for f in frames} == {(grid_height(4), 5 * CELL + 2 * FACTOR, 1)}
    assert not np.array_equal(frames[0], frames[6])  # dim 0 moved from 5 % to 95 % of its prior
    still = traversal_gif_frames(model, cont_dim=1, n_frames=12, n_per_category=5, factor=FACTOR)
    assert all(np.array_equal(frame, still[0]) for frame in still)


def test_reconstructions_and_samples_have_grid_sizes(model, images):
    assert reconstruction_picture(model, images[:20], cols=10, factor=FACTOR).shape == \
        (grid_height(4), 10 * CELL + 2 * FACTOR, 1)
    assert samples_picture(model, 3, 5, FACTOR).shape == (grid_height(3), 5 * CELL + 2 * FACTOR, 1)


def test_write_pictures_writes_every_file(model, images, tmp_path):
    labels = np.arange(len(images)) % 4
    paths = write_pictures(model, str(tmp_path), images, steps=STEPS, factor=FACTOR, category_dims=[0, 2],
                           gif_dims=2, gif_frames=8, labels=labels, class_names=("a", "b", "c", "d"))
    expected = {"all_traversals.png", "reconstructions.png", "samples.png", "samples_per_category.png",
                "category_members.png", "category_traversal_z0.png", "category_traversal_z2.png"}
    assert expected <= set(paths) and sorted(os.listdir(tmp_path)) == sorted(paths)
    kl = closed_form_kl_per_dim(model, images)
    animated = np.argsort(-kl)[:min(2, max(1, int((kl > INACTIVE_KL).sum())))]  # largest KL, active ones
    gifs = [name for name in paths if name.endswith(".gif")]
    assert sorted(gifs) == sorted(f"traversal_z{d}.gif" for d in animated)
    for name in gifs:
        with Image.open(paths[name]) as gif:
            assert gif.n_frames == (8 if name != "traversal_z1.gif" else 1)  # z1 moves nothing: one frame
    with Image.open(paths["all_traversals.png"]) as png:
        assert png.size[1] == grid_height(4)


def _grid_rows(path, rows):
    with Image.open(path) as png:
        picture = np.asarray(png)
    return cells(picture[..., None] if picture.ndim == 2 else picture, rows, STEPS)


def test_write_pictures_holds_the_category_asked_for_by_id_or_class_name(model, images, tmp_path):
    """A class name asks for the purest category holding it among the labelled images, as an export and
    `jvae-tf sample --category` do; the traversal grid then holds that category."""
    labels = np.arange(len(images)) % 4
    names = ("circle", "square", "star", "triangle")
    categories = encode_dataset(model, images).categories
    classes, purity = metrics.category_classes(labels, categories, names, model.config.latent.disc)
    name = next(held for held in classes[0] if held)
    row = category_of_class(name, classes, purity)
    options = dict(steps=STEPS, factor=FACTOR, gif_dims=1, gif_frames=2, labels=labels, class_names=names)
    by_name = write_pictures(model, str(tmp_path / "name"), images, category=name, **options)
    by_id = write_pictures(model, str(tmp_path / "id"), images, category=row, **options)
    other = write_pictures(model, str(tmp_path / "other"), images, category=[(row[0] + 1) % 4], **options)
    grid = _grid_rows(by_name["all_traversals.png"], 4)
    assert np.array_equal(grid, _grid_rows(by_id["all_traversals.png"], 4))
    assert not np.array_equal(grid[:3], _grid_rows(other["all_traversals.png"], 4)[:3])  # z rows: another category


@pytest.mark.parametrize("category, message", [
    ("hexagon", "category: no category holds class 'hexagon'; the categories hold "),
    ([4], r"category: expected up to 1 ids \(one per discrete variable\), each below its count \[4\]"),
    ([0, 1], "category: expected up to 1 ids"),
])
def test_write_pictures_refuses_a_category_no_category_holds_before_drawing(model, images, tmp_path, category,
                                                                           message):
    with pytest.raises(ConfigError, match=message):
        write_pictures(model, str(tmp_path / "out"), images, steps=STEPS, factor=FACTOR, category=category,
                       labels=np.arange(len(images)) % 4, class_names=("circle", "square", "star", "triangle"))
    assert not (tmp_path / "out").exists()


def test_write_pictures_without_discrete_code(tmp_path, images):
    run = RunConfig(model=ModelConfig(image_size=SIZE, channels=1, latent=LatentSpec(2, ()), hidden_units=32))
    model = build_model(run)
    paths = write_pictures(model, str(tmp_path), images, gif_frames=4)
    assert not any(name.startswith("category_traversal") for name in paths)
    largest = int(np.argmax(closed_form_kl_per_dim(model, images)))
    assert {"all_traversals.png", "samples_per_category.png", f"traversal_z{largest}.gif"} <= set(paths)


def test_category_members_show_each_categorys_own_images_in_order():
    # Image i is filled with the grey level i / 10; categories 0, 1, 0, 2, 0 (category 1 holds one image).
    images = (np.arange(5, dtype=np.float32)[:, None, None, None] / 10) * np.ones((5, 2, 2, 1), np.float32)
    grid = category_members_picture(images, np.array([0, 1, 0, 2, 0]), k=3, n_per_category=3, factor=1)
    cells = pictures.image_grid(np.ones((9, 2, 2, 1), np.float32), 3, 3)
    unlabelled = grid[:, grid.shape[1] - cells.shape[1]:]  # labels are added at the left

    def cell(row, col):
        return unlabelled[2 + row * 4, 2 + col * 4, 0]  # padding 2, cells of 2 pixels

    expected = [[0, 0.2, 0.4], [0.1, 1, 1], [0.3, 1, 1]]  # blank (white) where a category has fewer images
    assert [[cell(r, c) for c in range(3)] for r in range(3)] == pixels.to_uint8(np.array(expected)).tolist()


def test_pad_to_common_shape():
    frames = pad_to_common_shape([np.zeros((4, 6, 1), np.uint8), np.zeros((5, 3, 1), np.uint8)])
    assert [f.shape for f in frames] == [(5, 6, 1), (5, 6, 1)]
    assert frames[1][0, 5, 0] == 255


def _perturb(model):
    """Change the decoder's last bias so the next drawing differs from the last."""
    bias = model.decoder.trainable_variables[-1]
    bias.assign_add(np.full(bias.shape, 2.0, "float32"))


def test_progress_pictures_keep_one_frame_per_evaluation_across_resume(images, tmp_path):
    model = build()
    kl_cont, kl_disc = np.ones(model.config.latent.cont), np.ones(len(model.config.latent.disc))
    pictures_dir, log_dir = str(tmp_path / "pictures"), str(tmp_path / "logs" / "pictures")
    drawing = ProgressPictures(images, pictures_dir, log_dir, steps=4, factor=1)
    drawing.draw(model, kl_cont, kl_disc, 0)
    _perturb(model)
    drawing.draw(model, kl_cont, kl_disc, 3)
    drawing.write_animation()
    progress = tmp_path / "pictures" / "progress"
    assert sorted(os.listdir(progress)) == ["epoch-0001.png", "epoch-0004.png"]
    with Image.open(tmp_path / "pictures" / "training_progress.gif") as gif:
        assert gif.n_frames == 2
    resumed = ProgressPictures(images, pictures_dir, log_dir, steps=4, factor=1)
    assert sorted(resumed.frames) == ["epoch-0001.png", "epoch-0004.png"]
    _perturb(model)
    resumed.draw(model, kl_cont, kl_disc, 5)
    resumed.write_animation()
    with Image.open(tmp_path / "pictures" / "training_progress.gif") as gif:
        assert gif.n_frames == 3
    assert os.listdir(tmp_path / "logs" / "pictures")  # TensorBoard event file
