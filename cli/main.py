"""The ``jvae-tf`` command: a thin click layer over the ``jointvae_tf`` library.

Exit codes: 0 success; 2 a user's mistake (:class:`~jointvae_tf.errors.JointVAEError`: bad flag, missing
file, wrong image size; and click's own usage errors); 1 a run that failed although its inputs were fine
(:class:`~jointvae_tf.errors.RunFailure`: training diverged, no model server answered). Each prints one
line ``Error: ...`` on stderr; a library warning (:class:`~jointvae_tf.errors.JointVAEWarning`: a damaged
checkpoint skipped) one line ``Warning: ...``. A command's module is imported only when that command is
asked for, and TensorFlow only once its flags have been read, so ``jvae-tf --help``, ``jvae-tf train
--help`` and a mistyped flag answer at once.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import click  # noqa: E402

COMMANDS = {
    "train": "Train a JointVAE; writes config, checkpoints, TensorBoard logs and pictures to the run folder.",
    "datasets": "List every dataset: source, size, classes, whether it is available, and how to get it.",
    "traverse": "Write traversal grids, per-category traversals and GIFs, reconstructions and samples as pictures.",
    "evaluate": "Reconstruction, loss terms, KL per latent, cluster accuracy, NMI, MIG, FactorVAE score, class change.",
    "export": "Export RUN_DIR's latest checkpoint to OUT/NAME/VERSION with signatures serving_default (decode), "
              "sample, encode, encode_image, encode_pixels, category_of_class and traverse.",
    "sample": "Sample N images (one of --server, --grpc, --run, --export) into a grid PNG.",
    "explore": "Serve a page that moves the latents of a model and shows the decoded image, live.",
}
"""Each command, in the order ``--help`` lists it, with the first sentence of its help (the function
``NAME`` of module ``cli.NAME``; tests check the sentence against the command's own)."""


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and probe its devices with stderr closed: TF 2.21 prints start-up notices
    (oneDNN, CUDA probing) from C++ before its log level applies. Set JVAE_TF_VERBOSE=1 to see them."""
    if os.environ.get("JVAE_TF_VERBOSE") or "tensorflow" in sys.modules:
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


def _tensorflow_first(callback):
    """``callback`` importing TensorFlow quietly before it runs: after click has parsed the flags (help and
    usage errors need no TensorFlow), before the command's own imports would load it noisily."""
    @functools.wraps(callback)
    def run(*args, **kwargs):
        _import_tensorflow_quietly()
        return callback(*args, **kwargs)

    run.imports_tensorflow_first = True
    return run


def _exit_code(error: Exception) -> int | None:
    """The exit code of a library error (``JointVAEError.exit_code``), or None for anything else (a bug,
    shown as a traceback). A JointVAEError can only exist once ``jointvae_tf`` was imported."""
    errors = sys.modules.get("jointvae_tf.errors")
    return error.exit_code if errors and isinstance(error, errors.JointVAEError) else None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` that prints the library's own warnings as one line ``Warning: ...``."""
    errors = sys.modules.get("jointvae_tf.errors")
    if errors and issubclass(category, errors.JointVAEWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


class _Group(click.Group):
    """Loads commands on demand and turns errors anywhere below into one line and an exit code; a library
    error's message names the command's flags where it names an argument or setting (``cli.options.error_in_flags``)."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        command = getattr(importlib.import_module(f"jointvae_tf.cli.{name}"), name)
        if not getattr(command.callback, "imports_tensorflow_first", False):
            command.callback = _tensorflow_first(command.callback)
        return command

    def format_commands(self, ctx, formatter):
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [(name, click.utils.make_default_short_help(summary, limit)) for name, summary in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as error:
            if _exit_code(error) is not None and ctx.invoked_subcommand:
                from jointvae_tf.cli.options import error_in_flags, flags_of

                error_in_flags(error, flags_of(self.get_command(ctx, ctx.invoked_subcommand)))
            raise

    def main(self, *args, **kwargs):
        warnings.showwarning = _show_warning
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
        except Exception as error:
            code = _exit_code(error)
            if code is None:
                raise
            click.echo(f"Error: {error}", err=True)
            sys.exit(code)


@click.group(cls=_Group)
@click.version_option(package_name="jointvae-tf")
def main():
    """Train, inspect, evaluate and export JointVAE models (continuous + discrete latents)."""


if __name__ == "__main__":
    main()
