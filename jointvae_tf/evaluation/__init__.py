"""Measuring a trained model: batched inference, metrics, the label-free selection score and the
report of ``jvae-tf evaluate`` (depends on ``core``, ``data`` and ``runs``)."""
