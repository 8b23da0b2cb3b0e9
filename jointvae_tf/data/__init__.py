"""Every dataset of the study, offline by default, through one tf.data pipeline.

``catalog`` holds one entry per dataset (metadata, reader, training preset); ``load_examples`` reads a split
into memory at the model's size; ``make_dataset`` turns it into batches of float images in [0, 1].
"""

from jointvae_tf.data.catalog import Dataset, dataset_info, dataset_names, get_dataset
from jointvae_tf.data.info import DatasetInfo, Examples
from jointvae_tf.data.loading import (
           describe_datasets,
           load_examples,
           narrow_classes,
           resolve_classes,
)
from jointvae_tf.data.pipeline import make_dataset

__all__ = ["Dataset", "DatasetInfo", "Examples", "dataset_info", "dataset_names", "describe_datasets", "get_dataset",
           "load_examples", "make_dataset", "narrow_classes", "resolve_classes"]
