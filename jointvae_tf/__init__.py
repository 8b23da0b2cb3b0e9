"""jointvae-tf: JointVAE (Dupont 2018) in Keras/TensorFlow.

Importing the package registers :class:`JointVAE` with Keras, so ``keras.models.load_model`` reads
``RUN_DIR/model.keras`` (or any saved JointVAE) without ``custom_objects``. README, "Use from Python".
"""

from importlib import metadata

from jointvae_tf.config import (CapacitySchedule, DataConfig, InvarianceConfig, LatentSpec, LossConfig, ModelConfig,
                                RunConfig, TrainConfig)
from jointvae_tf.data import load_examples, make_dataset
from jointvae_tf.errors import JointVAEError
from jointvae_tf.evaluation import encode_dataset
from jointvae_tf.model import JointVAE
from jointvae_tf.runs import LoadedRun, open_run
from jointvae_tf.traversals import compose
from jointvae_tf.training import TrainingResult, train
from jointvae_tf.visualize import write_pictures

try:
    __version__ = metadata.version("jointvae-tf")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["CapacitySchedule", "DataConfig", "InvarianceConfig", "JointVAE", "JointVAEError", "LatentSpec",
           "LoadedRun", "LossConfig", "ModelConfig", "RunConfig", "TrainConfig", "TrainingResult", "compose",
           "encode_dataset", "load_examples", "make_dataset", "open_run", "train", "write_pictures"]
