"""The ``jvae-tf`` command: a thin click layer over the ``jointvae_tf`` library.

User mistakes (:class:`~jointvae_tf.errors.JointVAEError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import click  # noqa: E402

from jointvae_tf.errors import JointVAEError  # noqa: E402


class _Group(click.Group):
    """Turns JointVAEError anywhere below into ``Error: <message>`` and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except JointVAEError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="jointvae-tf")
def main():
    """Train, inspect, evaluate and export JointVAE models (continuous + discrete latents)."""


def _register():
    from jointvae_tf.cli.datasets import datasets
    from jointvae_tf.cli.evaluate import evaluate
    from jointvae_tf.cli.export import export
    from jointvae_tf.cli.sample import sample
    from jointvae_tf.cli.train import train
    from jointvae_tf.cli.traverse import traverse

    for command in (train, datasets, traverse, evaluate, export, sample):
        main.add_command(command)


_register()

if __name__ == "__main__":
    main()
