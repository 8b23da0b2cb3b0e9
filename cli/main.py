"""The ``jvae-tf`` command: a thin click layer over the ``jointvae_tf`` library.

User mistakes (:class:`~jointvae_tf.errors.JointVAEError`, and click's own usage errors) become one line
``Error: ...`` on stderr and exit code 2; ``--help`` explains the flags.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import click  # noqa: E402

from jointvae_tf.errors import JointVAEError  # noqa: E402


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and probe its devices with stderr closed: TF 2.21 prints start-up notices
    (oneDNN, CUDA probing) from C++ before its log level applies. Set JVAE_TF_VERBOSE=1 to see them."""
    if os.environ.get("JVAE_TF_VERBOSE"):
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _Group(click.Group):
    """Turns JointVAEError and click usage errors anywhere below into one line and exit code 2."""

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.format_message())
            sys.exit(2)
        except click.ClickException as error:
            where = f"{error.ctx.command_path}: " if getattr(error, "ctx", None) else ""
            click.echo(f"Error: {where}{error.format_message()}", err=True)
            sys.exit(2 if isinstance(error, click.UsageError) else error.exit_code)
        except JointVAEError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="jointvae-tf")
def main():
    """Train, inspect, evaluate and export JointVAE models (continuous + discrete latents)."""


def _register():
    _import_tensorflow_quietly()
    from cli.datasets import datasets
    from cli.evaluate import evaluate
    from cli.export import export
    from cli.sample import sample
    from cli.train import train
    from cli.traverse import traverse

    for command in (train, datasets, traverse, evaluate, export, sample):
        main.add_command(command)


_register()

if __name__ == "__main__":
    main()
