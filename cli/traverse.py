"""``jvae-tf traverse``: draw what a trained run learned (traversals, GIFs, reconstructions, samples)."""

from __future__ import annotations

import click
from jointvae_tf.cli.options import (
    parse_category,
    parse_names,
    setting_option,
    settings_given,
    upscale_option,
)


@click.command("traverse")
@click.argument("run_dir", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Folder for the pictures [RUN_DIR/pictures].")
@click.option("--steps", type=click.IntRange(min=2), default=10, show_default=True, help="Columns of each traversal.")
@upscale_option("every picture")
@click.option("--dim", "dims", type=click.IntRange(min=0), multiple=True,
              help="Continuous dim(s) swept by the category traversals [the one of largest KL].")
@click.option("--gif-dims", type=click.IntRange(min=0), default=3, show_default=True,
              help="Animate this many dims of largest KL (active ones only, at least one).")
@click.option("--max-examples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Validation images that measure each dim's KL and give the reconstructions.")
@click.option("--category", default="",
              help="Categories the traversal grid holds, e.g. 3 or 3,1 (one per discrete variable), or a class name "
                   "such as star (the purest category holding it, named by the run's labelled validation images) "
                   "[the category of c0 that changes most along the top dim].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random samples.")
@setting_option("--classes", "data.classes", callback=parse_names, default_text="the run's",
                help="Draw reconstructions and per-category names from these of the run's classes only.")
def traverse(run_dir, out, steps, upscale, dims, gif_dims, max_examples, category, seed, **options):
    """Write traversal grids, per-category traversals and GIFs, reconstructions and samples as pictures."""
    from jointvae_tf.data.pixels import to_unit_range
    from jointvae_tf.evaluation.report import load_split
    from jointvae_tf.run_folders.folder import RunFolder, open_run
    from jointvae_tf.viz.visualize import held_categories, write_pictures

    loaded = open_run(run_dir)
    cont = loaded.model.config.latent.cont
    bad = [d for d in dims if d >= cont]
    if bad:  # before any picture is drawn, so none is left half done
        raise click.BadParameter(f"expected continuous dims in 0 .. {cont - 1} (the run has {cont}), got {bad[0]}",
                                 param_hint="'--dim'")
    category = parse_category(category)
    if not isinstance(category, str):  # ids are checked before the validation images are read
        held_categories(loaded.model.config.latent, category)
    classes = settings_given(options).get("data.classes", ())
    examples = load_split(loaded.config, "validation", max_examples, classes)
    out = out or RunFolder(run_dir).pictures
    paths = write_pictures(loaded.model, out, to_unit_range(examples.images), steps=steps, factor=upscale,
                           category_dims=list(dims) or None, gif_dims=gif_dims, seed=seed, labels=examples.labels,
                           class_names=examples.class_names, category=category, verbose=1)
    click.echo(f"Wrote {len(paths)} pictures to {out}: {', '.join(paths)}")
