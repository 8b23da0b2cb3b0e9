"""A tiny trained model, its export, and `jvae-tf explore`'s server for it on a free loopback port.

Shared by ``test_explorer.py`` (the JSON endpoints) and ``test_explorer_browser.py`` (the page in Chromium).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from jointvae_tf.core.config import (
    DataConfig,
    LatentSpec,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from jointvae_tf.serving import export
from jointvae_tf.serving.explorer import Explorer, address, make_server, open_explorer
from jointvae_tf.serving.sources import open_predictor
from jointvae_tf.training.trainer import train

RUN = RunConfig(model=ModelConfig(image_size=32, channels=1, latent=LatentSpec(3, (4,)), hidden_units=32),
                data=DataConfig(name="four_shapes", max_examples=256), train=TrainConfig(epochs=1, batch_size=32))
HELD_OUT = 200


@dataclasses.dataclass
class Explored:
    """A trained run, its export (loaded here too, to decode and encode directly) and a served explorer."""

    run_dir: str
    export_dir: str
    loaded: object
    explorer: Explorer
    url: str

    def decode(self, z, c) -> np.ndarray:
        """uint8 ``[N, H, W, C]`` straight from the export's ``serving_default``: ``z [N, cont]``, ``c [N, n_disc]``."""
        spec = self.explorer.spec
        one_hot = np.concatenate([np.eye(k, dtype=np.float32)[np.asarray(c)[:, i]] for i, k in enumerate(spec.disc)], 1)
        images = self.loaded.signatures["serving_default"](z=tf.constant(z, tf.float32), c=tf.constant(one_hot))
        return np.round(np.clip(images["images"].numpy(), 0, 1) * 255).astype(np.uint8)

    def encode(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """The export's ``encode`` outputs for one uint8 ``[H, W, C]`` image."""
        outputs = self.loaded.signatures["encode"](images=tf.constant(image[None], tf.float32) / 255.0)
        return {name: value.numpy()[0] for name, value in outputs.items()}


@contextlib.contextmanager
def serving(explorer: Explorer, **kwargs):
    """``explorer``'s server on a free port of 127.0.0.1 (``kwargs`` for ``make_server``), in a thread; yields
    the page's URL."""
    server = make_server(explorer, port=0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield address(server)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def explored(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    run_dir = str(root / "run")
    train(RUN, run_dir, verbose=0)
    export_dir = export.export_run(run_dir, out=str(root / "saved_models"))
    explorer = open_explorer(open_predictor(export_dir), max_examples=HELD_OUT)
    with serving(explorer) as url:
        yield Explored(run_dir, export_dir, tf.saved_model.load(export_dir), explorer, url)
    explorer.close()


def call(url: str, body=None, content_type: str = "application/json") -> tuple[int, dict]:
    """``(HTTP status, JSON answer)`` of a GET (``body`` None) or POST (dict -> JSON, bytes as they are)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type} if data is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def pixels(data_url: str) -> np.ndarray:
    """uint8 ``[H, W, C]`` of a ``data:image/png;base64,...`` URL."""
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix), data_url[:40]
    with Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix):]))) as image:
        array = np.asarray(image)
    return array[:, :, None] if array.ndim == 2 else array


def shape_file(path: str, size: tuple[int, int] = (300, 200), fmt: str = "PNG") -> str:
    """An RGB picture of ``size`` (width, height) pixels: a white triangle on black, off-centre, as a file."""
    from PIL import ImageDraw

    image = Image.new("RGB", size)
    width, height = size
    ImageDraw.Draw(image).polygon([(0.2 * width, 0.85 * height), (0.55 * width, 0.1 * height),
                                   (0.8 * width, 0.8 * height)], fill=(250, 250, 250))
    image.save(path, format=fmt)
    return path
