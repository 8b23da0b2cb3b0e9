"""A run folder on disk: its layout, checkpoints, and opening a trained run (depends on ``core`` and ``data``)."""

from jointvae_tf.runs.folder import LoadedRun, RunFolder, open_run, prepare_run

__all__ = ["LoadedRun", "RunFolder", "open_run", "prepare_run"]
