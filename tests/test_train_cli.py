"""`jvae-tf train` from a user's side: folder datasets size the discrete code from the folders found, and
`--resume` continues a run with the settings of its config.json."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from PIL import Image

from jointvae_tf.training.presets import build_run_config


def write_class_folders(root, classes, per_class=12, side=40):
    """One folder of PNGs per class, as a user's photo folder: each class a mark of its own in a corner of
    its own (asymmetric, so a transposed or flipped reader is caught), on noisy backgrounds."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 40, (side, side), dtype=np.uint8)
            top, left = divmod(c % 4, 2)
            y, x = 4 + top * 18 + i % 3, 4 + left * 18 + i % 4
            pixels[y:y + 3, x:x + 12] = 255
            pixels[y:y + 10, x:x + 3] = 255
            Image.fromarray(pixels).save(root / name / f"{name}_{i:03d}.png")


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, [line for line in result.stderr.splitlines() if line.strip()]


TINY = ("--cont", 2, "--batch-size", 8, "--epochs", 1, "--checkpoint-every", 2)


def test_image_folder_counts_its_classes_from_the_folder(tmp_path):
    write_class_folders(tmp_path / "photos", ["cat", "dog", "owl"])
    run = build_run_config("image_folder", {"data.data_dir": str(tmp_path / "photos")})
    assert run.model.latent.disc == (6,)  # two categories per class
    with pytest.raises(Exception, match=r"--data-dir|data_dir"):
        build_run_config("image_folder", {"data.data_dir": str(tmp_path / "nowhere")})


@pytest.mark.slow
def test_train_on_an_image_folder_without_disc(tmp_path):
    write_class_folders(tmp_path / "photos", ["cat", "dog", "owl"])
    code, out, err = cli("train", "--dataset", "image_folder", "--data-dir", tmp_path / "photos", *TINY,
                         "--out", tmp_path / "run")
    assert code == 0, err
    stored = json.load(open(tmp_path / "run" / "config.json"))
    assert stored["model"]["latent"]["disc"] == [6]
    assert "latent.disc=(6,)" in out


@pytest.mark.slow
def test_resume_takes_every_setting_from_the_run_and_refuses_contradicting_flags(tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = cli("train", "--max-examples", 64, *TINY, "--disc", 4, "--gamma", 7, "--out", run_dir)
    assert code == 0, err
    assert "Trained 8 steps" in out  # 64 rendered training shapes, batch 8
    stored = json.load(open(run_dir / "config.json"))

    code, out, err = cli("train", "--out", run_dir, "--resume")
    assert code == 0, err
    assert "Resuming" in out and "gamma=7.0" in out and "epochs=1," in out
    assert "Trained 8 steps" in out  # the run's 1 epoch, not the four_shapes preset's 30
    assert json.load(open(run_dir / "config.json")) == stored

    code, out, err = cli("train", "--out", run_dir, "--resume", "--gamma", 7, "--disc", 4)  # agreeing flags
    assert code == 0, err
    code, out, err = cli("train", "--out", run_dir, "--resume", "--disc", 5)
    assert code == 2 and len(err) == 1
    assert err[0].startswith("Error: --disc: the run was trained with (4,), not (5,)")
    code, out, err = cli("train", "--out", run_dir, "--resume", "--dataset", "mnist")
    assert code == 2 and err[0].startswith("Error: --dataset: the run was trained with 'four_shapes'")

    code, out, err = cli("train", "--out", run_dir, "--resume", "--epochs", 2)
    assert code == 0, err
    assert "--epochs 2 instead of the run's 1" in out and "Trained 16 steps" in out
