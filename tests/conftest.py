import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402  (after the log level, which TensorFlow reads on import)
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def seeded_random_state():
    """Every test starts from the same Python, numpy and TensorFlow random state, so a model's initial
    weights (and a check such as "training lowers the loss") do not depend on which tests ran before."""
    keras.utils.set_random_seed(0)
