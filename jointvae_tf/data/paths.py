"""Locating a dataset's files from its ``data_dir``."""

from __future__ import annotations

import os

from jointvae_tf.errors import ConfigError


def find_file(data_dir: str | None, file_name: str, layout: str) -> str:
    """``data_dir`` when it is a file, else ``data_dir/file_name``; JointVAEError naming ``layout`` if missing."""
    path = data_dir if data_dir and os.path.isfile(data_dir) else os.path.join(data_dir or "", file_name)
    if not data_dir or not os.path.isfile(path):
        raise ConfigError("data_dir", f"{path!r} not found; expected {layout}")
    return path
