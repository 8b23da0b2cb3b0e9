"""A run folder on disk: its layout, checkpoints, its lock, and opening a trained run (depends on ``core`` and
``data``)."""

from jointvae_tf.run_folders.folder import LoadedRun, RunFolder, open_run, prepare_run
from jointvae_tf.run_folders.lock import lock_run_folder

__all__ = ["LoadedRun", "RunFolder", "lock_run_folder", "open_run", "prepare_run"]
