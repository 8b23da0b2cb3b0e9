"""A PyTorch JointVAE trainer, the speed reference that ``benchmark_training.py`` alternates with ours.

Written for this project after the PyTorch original (Dupont 2018): the same encoder and decoder (687,359
parameters for 32x32x1, cont 10, disc [10]), the same objective (BCE summed over pixels + 30 |KL_cont - C|
+ 30 |KL_disc - C|, Gumbel-softmax relaxation at temperature 0.67), Adam 5e-4, eager PyTorch on CPU. Data
are held as one float tensor and batched by index, so it has no per-image transform or DataLoader cost:
it is a lean upper bound of the original's loop, not a copy of it.

It needs only ``torch`` and ``numpy`` (not part of this package's dependencies)::

    python -m venv torch-env && torch-env/bin/pip install torch numpy
    torch-env/bin/python scripts/reference_pytorch.py '{"config": "32", "batch": 64, "seconds": 4, "warmup": 3}'
    python scripts/benchmark_training.py --variants torch,ours-spe10 --torch-python torch-env/bin/python

Prints one JSON line: images/s, ms/step and peak memory, as the ``--child`` of ``benchmark_training.py``.
With ``"steps": N`` it trains exactly N steps after the warm-up instead of ``seconds``; with
``"npz": PATH`` it trains on a Keras-style mnist.npz (``x_train``, 28x28 padded to 32x32) instead of
random images, so a whole process can be timed against ``jvae-tf train --dataset npz`` on the same data.
``"seed"`` seeds PyTorch (default 0). With ``"curve_every": N`` (and ``"steps"``, ``"npz"``) it scores
the held-out digits every N steps and adds ``curve``: [wall seconds since the process started, steps,
accuracy], evaluation included, to compare time to accuracy with ``quality_benchmark.py``'s curves. ``"schedule_steps": S`` raises both capacities linearly from 0 to 5 nats over S steps (the original's
MNIST recipe: 25,000) instead of holding them at 5, and then the held-out cluster accuracy of the
discrete code (majority mapping, ``x_test``/``y_test``) is reported too, to compare quality at equal steps.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time

STARTED = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

CONFIGS = {"32": dict(image_size=32, cont=10, disc=(10,)), "64": dict(image_size=64, cont=6, disc=(3,))}
HIDDEN = 256


def conv_filters(image_size: int) -> list[int]:
    return [32, 64, 64] if image_size == 32 else [32, 32, 64, 64]


def deconv_filters(image_size: int) -> list[int]:
    return [32, 32] if image_size == 32 else [64, 32, 32]


class JointVAE(nn.Module):
    """Encoder and decoder of the paper; ``forward`` returns the training loss of a batch (scalar)."""

    def __init__(self, image_size: int, cont: int, disc: tuple[int, ...], temperature: float = 0.67):
        super().__init__()
        self.cont, self.disc, self.temperature = cont, disc, temperature
        layers, channels = [], 1
        for filters in conv_filters(image_size):
            layers += [nn.Conv2d(channels, filters, 4, 2, 1), nn.ReLU()]
            channels = filters
        self.encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 4 * 4, HIDDEN), nn.ReLU(),
                                     nn.Linear(HIDDEN, 2 * cont + sum(disc)))
        layers, channels = [], 64
        for filters in deconv_filters(image_size):
            layers += [nn.ConvTranspose2d(channels, filters, 4, 2, 1), nn.ReLU()]
            channels = filters
        self.decoder = nn.Sequential(nn.Linear(cont + sum(disc), HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 64 * 4 * 4),
                                     nn.ReLU(), nn.Unflatten(1, (64, 4, 4)), *layers,
                                     nn.ConvTranspose2d(channels, 1, 4, 2, 1))

    def forward(self, images: torch.Tensor, capacity: float = 5.0, gamma: float = 30.0) -> torch.Tensor:
        encoding = self.encoder(images)
        mean, log_var = encoding[:, :self.cont], encoding[:, self.cont:2 * self.cont]
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        codes, kl_disc, start = [], 0.0, 2 * self.cont
        for k in self.disc:
            logits = encoding[:, start:start + k]
            start += k
            uniform = torch.rand_like(logits).clamp_(1e-6, 1.0)
            codes.append(F.softmax((logits - torch.log(-torch.log(uniform))) / self.temperature, dim=-1))
            log_probs = F.log_softmax(logits, dim=-1)
            kl_disc = kl_disc + (torch.exp(log_probs) * log_probs).sum(-1).mean() + math.log(k)
        pixel_logits = self.decoder(torch.cat([z, *codes], dim=-1))
        reconstruction = F.binary_cross_entropy_with_logits(pixel_logits, images, reduction="sum") / len(images)
        kl_cont = 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(-1).mean()
        return reconstruction + gamma * (kl_cont - capacity).abs() + gamma * (kl_disc - capacity).abs()


def read_digits(npz: str, split: str, image_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """``x_{split}`` padded to ``[N, 1, size, size]`` float32 in [0, 1], and ``y_{split}``."""
    with np.load(npz) as files:
        digits, labels = files[f"x_{split}"], files[f"y_{split}"]
    pad = (image_size - digits.shape[1]) // 2
    padded = np.pad(digits, ((0, 0), (pad, pad), (pad, pad)))[:, None]
    return torch.from_numpy(padded.astype(np.float32) / 255), labels


def load_images(job: dict, image_size: int, batch: int) -> torch.Tensor:
    """``[N, 1, size, size]`` float32 in [0, 1]: the npz's training digits, or random pixels."""
    if "npz" in job:
        return read_digits(job["npz"], "train", image_size)[0]
    rng = np.random.default_rng(0)
    count = max(4096, 4 * batch)
    pixels = rng.integers(0, 256, (count, 1, image_size, image_size), dtype=np.uint8)
    return torch.from_numpy(pixels.astype(np.float32) / 255)


def cluster_accuracy(model: JointVAE, npz: str, image_size: int) -> float:
    """Majority-mapped accuracy of the first discrete variable's argmax on the npz's test digits."""
    images, labels = read_digits(npz, "test", image_size)
    with torch.no_grad():
        logits = model.encoder(images)[:, 2 * model.cont:2 * model.cont + model.disc[0]]
    categories = logits.argmax(-1).numpy()
    hits = sum(np.bincount(labels[categories == k]).max() for k in np.unique(categories))
    return float(hits / len(labels))


def measure(job: dict) -> dict:
    """Train for ``warmup`` seconds, then for ``seconds`` seconds (or ``steps`` steps); images/s of the latter."""
    config = CONFIGS[job["config"]]
    batch = job["batch"]
    torch.manual_seed(job.get("seed", 0))
    images = load_images(job, config["image_size"], batch)
    model = JointVAE(**config)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)

    schedule_steps = job.get("schedule_steps")
    done = 0

    def capacity() -> float:
        return 5.0 if not schedule_steps else 5.0 * min(1.0, done / schedule_steps)

    def run(seconds: float, max_steps: float = math.inf) -> tuple[int, float]:
        nonlocal done
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds and steps < max_steps:
            for index in torch.randperm(len(images)).split(batch):
                if len(index) < batch:
                    continue
                optimizer.zero_grad(set_to_none=True)
                model(images[index], capacity()).backward()
                optimizer.step()
                steps += 1
                done += 1
                if time.perf_counter() - start >= seconds or steps >= max_steps:
                    break
        return steps, time.perf_counter() - start

    run(job.get("warmup", 0))
    result = {}
    if "curve_every" in job:  # held-out accuracy against wall seconds since start, evaluation included
        curve, steps, elapsed = [], 0, 0.0
        while steps < job["steps"]:
            chunk, seconds = run(math.inf, min(job["curve_every"], job["steps"] - steps))
            steps, elapsed = steps + chunk, elapsed + seconds
            accuracy = cluster_accuracy(model, job["npz"], config["image_size"])
            curve.append([round(time.perf_counter() - STARTED, 1), steps, round(accuracy, 4)])
            print(json.dumps({"curve_point": curve[-1]}), flush=True)
        result["curve"] = curve
    elif "steps" in job:
        steps, elapsed = run(math.inf, job["steps"])
    else:
        steps, elapsed = run(job["seconds"])
    if schedule_steps:
        result["test_cluster_accuracy"] = cluster_accuracy(model, job["npz"], config["image_size"])
    return result | {"images_per_s": steps * batch / elapsed, "ms_per_step": 1000 * elapsed / steps, "steps": steps,
            "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))), flush=True)
