"""``jvae-tf export``: write a run's latest checkpoint as a SavedModel that TF-Serving can serve."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("run_dir")
@click.option("--name", default="jointvae", show_default=True, help="Model name: the folder under --out.")
@click.option("--version", type=int, default=None, help="Version number [one above the highest existing].")
@click.option("--out", default="saved_models", show_default=True, type=click.Path(file_okay=False),
              help="Model base folder (mounted at /models by serving/docker-compose.yml).")
@click.option("--traverse-steps", type=click.IntRange(min=1), default=10, show_default=True,
              help="Images per traversal of the `traverse` signature.")
def export(run_dir, name, version, out, traverse_steps):
    """Export RUN_DIR's latest checkpoint to OUT/NAME/VERSION with signatures serving_default (decode),
    sample, encode, encode_image, encode_pixels, category_of_class and traverse.

    encode_image and encode_pixels take image files or uint8 arrays of any size and prepare them as the
    run's training images were; the run's labelled validation images name the categories.
    """
    from jointvae_tf.serving.export import ExportConfig, export_run

    target = export_run(run_dir, out=out, name=name, version=version, traverse_steps=traverse_steps)
    config = ExportConfig.load(target)
    click.echo(f"Exported {run_dir} (step {config.step}) to {target}; signatures: {', '.join(config.signatures)}")
