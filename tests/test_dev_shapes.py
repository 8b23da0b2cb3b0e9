"""scripts/dev_shapes.py, the development source of styled shapes: its folder is what ``--dataset four_shapes
--data-dir`` reads, its classes are balanced, its styles are drawn as described, one seed fixes it."""

import dataclasses

import numpy as np
from script_modules import load_script

from jointvae_tf.core.config import DataConfig
from jointvae_tf.data import load_examples
from jointvae_tf.data.info import FOUR_SHAPES

dev_shapes = load_script("dev_shapes")


def test_the_folder_is_read_as_four_shapes_with_balanced_classes_and_several_file_sizes(tmp_path):
    labels, images = dev_shapes.render(40, seed=3)
    assert dev_shapes.write_folder(str(tmp_path), labels, images) == {name: 10 for name in FOUR_SHAPES}
    assert len({image.shape for image in images}) > 1
    config = DataConfig(name="four_shapes", data_dir=str(tmp_path), validation_fraction=0.1)
    splits = [load_examples(config, split, 32, 1) for split in ("train", "validation", "test")]
    assert [len(s.labels) for s in splits] == [32, 4, 4]
    assert splits[0].class_names == FOUR_SHAPES and splits[0].images.shape[1:] == (32, 32, 1)
    again_labels, again = dev_shapes.render(40, seed=3)
    assert np.array_equal(again_labels, labels) and all(np.array_equal(a, b) for a, b in zip(again, images))


def one_circle(drawing: int, paper: int):
    """A centred circle of circumradius 0.6 drawn at 64 px in ``drawing`` on ``paper``, no noise, texture,
    blur or occluder: uint8 ``[64, 64]``."""
    params, styles = dev_shapes.sample(4, np.random.default_rng(0))
    first = np.flatnonzero(params.shape == 0)[:1]
    params = dataclasses.replace(params.take(first), scale=np.float32([0.6]), x=np.zeros(1, np.float32),
                                 y=np.zeros(1, np.float32), wobble=np.zeros(1, np.float32),
                                 stretch=np.zeros(1, np.float32), shear=np.zeros(1, np.float32))
    quiet = {f.name: getattr(styles, f.name)[first] for f in dataclasses.fields(styles)}
    quiet.update(drawing=np.array([drawing]), paper=np.array([paper]), size=np.array([64]),
                 stroke=np.float32([0.1]), spacing=np.float32([0.2]), crossed=np.array([False]),
                 ground=np.float32([0.9 if paper == 2 else 0.0]), ink=np.float32([0.1 if paper == 2 else 1.0]),
                 texture=np.zeros(1, np.float32), noise=np.zeros(1, np.float32), blur=np.zeros(1, np.float32),
                 occluder=np.array([0]))
    return dev_shapes.draw(params, dev_shapes.Styles(**quiet), np.random.default_rng(1))[0]


def test_filled_outlined_and_hatched_circles_differ_at_the_centre_and_share_the_edge():
    filled, outline, hatched = (one_circle(drawing, paper=0) for drawing in range(3))
    yy, xx = np.mgrid[:64, :64] - 31.5
    radius = np.hypot(yy, xx) / 32  # half-sides
    centre, edge, outside = radius < 0.4, np.abs(radius - 0.57) < 0.02, radius > 0.75
    assert filled[centre].min() == 255 and outline[centre].max() == 0
    assert 0.2 < hatched[centre].mean() / 255 < 0.6  # lines a third of their spacing wide, antialiased
    for image in (filled, outline, hatched):
        assert image[edge].min() > 200 and image[outside].max() == 0
    on_paper = one_circle(1, paper=2)
    assert np.all(on_paper[outside] == 230) and on_paper[edge].max() < 60  # dark ink on light paper

