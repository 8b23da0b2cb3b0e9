"""serving/: the compose file, model config and batching parameters agree with the exports and the client."""

import os
import re

import tensorflow as tf
from serving_stubs import SERVING_DIR, BatchingParameters, version_policy

from jointvae_tf.serving.client import MAX_BATCH_SIZE


def _compose() -> str:
    with open(os.path.join(SERVING_DIR, "docker-compose.yml")) as f:
        return f.read()


def test_images_are_pinned_to_the_tensorflow_release_that_writes_the_exports():
    release = ".".join(tf.__version__.split(".")[:2])
    images = re.findall(r"^\s*image:\s*(\S+)", _compose(), re.M)
    assert sorted(images) == [f"tensorflow/serving:{release}.0", f"tensorflow/serving:{release}.0-gpu"]


def test_the_gpu_service_reserves_the_gpus_and_no_service_enables_xla():
    compose = _compose()
    gpu = compose[compose.index("tf-serving-gpu:"):]
    assert re.search(r"devices:\s*- driver: nvidia\s*count: all\s*capabilities: \[gpu\]", gpu)
    assert "xla" not in re.sub(r"#.*", "", compose)  # exports are never XLA-compiled


def test_models_config_serves_the_latest_version_and_batching_matches_the_client():
    assert version_policy() == {"jointvae": 1}
    assert "--model_config_file=/config/models.config" in _compose()
    assert BatchingParameters.load().max_batch_size == MAX_BATCH_SIZE
