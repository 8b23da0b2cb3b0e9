"""`jvae-tf datasets`: the datasets this package can read, and whether each is readable now."""

import click

from jointvae_tf.cli.options import text_in_flags

_COLUMNS = ("name", "source", "size", "classes", "available", "where")


@click.command("datasets")
@click.option("--data-dir", default=None, help="Folder (or file) the datasets are looked up in; TFDS's data_dir.")
def datasets(data_dir):
    """List every dataset: source, size, classes, whether it is available, and how to get it."""
    from jointvae_tf.data import describe_datasets

    rows = [{**row, "size": f"{row['size']:,}" if row["size"] else "?", "available": "yes" if row["available"]
             else "no", "where": text_in_flags(row["where"], {"data.data_dir": "--data-dir"})}
            for row in describe_datasets(data_dir)]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in _COLUMNS[:-1]}
    click.echo("  ".join(c.ljust(widths.get(c, 0)) for c in _COLUMNS).rstrip())
    for row in rows:
        click.echo("  ".join(str(row[c]).ljust(widths.get(c, 0)) for c in _COLUMNS).rstrip())
