"""``python -m jointvae_tf``: the ``jvae-tf`` command."""

from jointvae_tf.cli.main import main

main(prog_name="jvae-tf")
