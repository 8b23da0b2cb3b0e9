"""Every dataset of the study, offline by default, through one tf.data pipeline.

``dataset_info`` describes a dataset, ``load_examples`` reads a split into memory at the model's size,
``make_dataset`` turns it into batches of float images in [0, 1].
"""

from jointvae_tf.data.info import DatasetInfo, Examples, dataset_info, dataset_names
from jointvae_tf.data.loading import class_names, describe_datasets, load_examples
from jointvae_tf.data.pipeline import make_dataset

__all__ = ["DatasetInfo", "Examples", "class_names", "dataset_info", "dataset_names", "describe_datasets", "load_examples",
           "make_dataset"]
