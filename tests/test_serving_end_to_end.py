"""The user's path end to end: train a tiny model, export it, serve it through the TF-Serving stand-in,
and sample over REST and gRPC: the pictures equal those of sampling the export locally, seed for seed."""

import os

import numpy as np
import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from PIL import Image
from serving_stubs import ServerCore, serve_grpc, serve_rest


def _invoke(*arguments):
    result = CliRunner().invoke(main, [str(a) for a in arguments])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_train_export_serve_and_sample_give_the_local_pictures(tmp_path):
    run_dir, models = tmp_path / "run", tmp_path / "saved_models"
    _invoke("train", "--dataset", "four_shapes", "--max-examples", 64, "--batch-size", 32, "--epochs", 1,
            "--cont", 2, "--disc", 4, "--out", run_dir)
    assert "to " + str(models / "jointvae" / "1") in _invoke("export", run_dir, "--out", models)
    core = ServerCore({"jointvae": str(models / "jointvae")}, rest_timeout_seconds=600)  # shared cores: no time bound
    pictures = {}
    with serve_rest(core) as rest, serve_grpc(core) as grpc_address:
        for name, source in (("export", ["--export", models / "jointvae"]), ("rest", ["--server", rest]),
                             ("grpc", ["--grpc", grpc_address])):
            out, out_dir = tmp_path / f"{name}.png", tmp_path / name
            output = _invoke("sample", *source, "--n", 6, "--seed", 40, "--category", 2, "--out", out,
                             "--out-dir", out_dir, "--timeout", 600)
            assert output.startswith("Wrote 6 samples") and "[2]" in output
            pictures[name] = [out.read_bytes()] + [(out_dir / f).read_bytes() for f in sorted(os.listdir(out_dir))]
    assert len(pictures["export"]) == 7 and sorted(os.listdir(tmp_path / "rest"))[0] == "sample-000040.png"
    assert pictures["rest"] == pictures["export"] and pictures["grpc"] == pictures["export"]
    grid = np.asarray(Image.open(tmp_path / "export.png"))
    assert grid.std() > 0  # a trained decoder draws something, not a blank grid
