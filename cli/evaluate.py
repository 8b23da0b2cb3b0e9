"""``jvae-tf evaluate``: the numbers of a trained run on a data split, as a table or one JSON object."""

from __future__ import annotations

import contextlib
import json
import sys

import click
from jointvae_tf.cli.options import (
    parse_names,
    setting_option,
    settings_given,
)


@click.command("evaluate")
@click.argument("run_dir", type=click.Path())
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test", show_default=True)
@click.option("--max-examples", type=click.IntRange(min=1), default=None, help="Evaluate at most this many images.")
@click.option("--class-change-examples", type=click.IntRange(min=1), default=100, show_default=True,
              help="Held-out images whose codes are traversed to measure class change.")
@setting_option("--classes", "data.classes", callback=parse_names, default_text="the run's",
                help="Evaluate on these of the run's classes only, e.g. 3,8.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def evaluate(run_dir, split, max_examples, class_change_examples, as_json, **options):
    """Reconstruction, loss terms, KL per latent, cluster accuracy, NMI, MIG, FactorVAE score, class change."""
    from jointvae_tf.evaluation.report import evaluate_run, format_report

    # The progress bar goes to stderr with --json, so stdout holds the JSON object alone.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        report = evaluate_run(run_dir, split, max_examples, class_change_examples, verbose=1,
                              classes=settings_given(options).get("data.classes", ()))
    click.echo(json.dumps(report.to_dict()) if as_json else format_report(report))
