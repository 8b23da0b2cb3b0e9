"""``jvae-tf sample``: images from the prior, from a TF-Serving server (REST or gRPC) or locally."""

from __future__ import annotations

import math
import os

import click

from jointvae_tf.cli.options import VERSION, errors_as_flags, model_source, parse_category, upscale_option
from jointvae_tf.errors import JointVAEError


@click.command("sample")
@click.option("--server", default=None, help="TF-Serving REST address, e.g. http://localhost:8501 (https:// behind TLS).")
@click.option("--grpc", "grpc_address", default=None, help="TF-Serving gRPC address, e.g. localhost:8500.")
@click.option("--tls-ca", default=None, type=click.Path(dir_okay=False),
              help="PEM certificate of the CA to trust: an https:// --server, or a secure --grpc channel.")
@click.option("--run", "run_dir", default=None, type=click.Path(file_okay=False),
              help="Sample locally from a run folder's latest checkpoint.")
@click.option("--export", "export_dir", default=None, type=click.Path(file_okay=False),
              help="Sample locally from saved_models/NAME[/VERSION] (the latest version when none is given).")
@click.option("--model", default="jointvae", show_default=True, help="Served model name (--server/--grpc).")
@click.option("--version", type=VERSION, default=None, help="Served model version [latest].")
@click.option("--n", type=click.IntRange(min=1), default=16, show_default=True, help="Number of images.")
@click.option("--category", default="",
              help="Category per discrete variable, e.g. 3 or 3,-1 (-1 or missing: random), or a class name such as "
                   "star (an export's categories are named by the run's labelled validation images).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the first image; image k uses seed+k.")
@click.option("--out", default="samples.png", show_default=True, type=click.Path(dir_okay=False), help="Grid PNG.")
@upscale_option("the grid (--out-dir images keep the model's size)", default=1)
@click.option("--out-dir", default=None, type=click.Path(file_okay=False), help="Also write each image as a PNG here.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Deadline in seconds of each request to the server, from connecting to the answer's last byte.")
@click.option("--retries", type=click.IntRange(min=1), default=4, show_default=True,
              help="Tries on connection errors and 503 (exponential backoff from 0.5 s).")
@click.option("--max-batch", "max_batch_size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Rows per request (--server/--grpc): the server's max_batch_size (serving/batching_parameters.txt).")
def sample(server, grpc_address, tls_ca, run_dir, export_dir, model, version, n, category, seed, out, upscale,
           out_dir, timeout, retries, max_batch_size):
    """Sample N images (one of --server, --grpc, --run, --export) into a grid PNG."""
    from jointvae_tf.serving.predictor import sample as sample_images
    from jointvae_tf.serving.sources import open_predictor
    from jointvae_tf.data import pixels
    from jointvae_tf.viz import pictures
    from jointvae_tf.viz.visualize import plain_grid

    source, run = model_source(run_dir, export_dir, server, grpc_address)
    if run and source.kind != "run":  # the rule's run folder beside a model: nothing sample would use it for
        flag = {"rest": "--server", "grpc": "--grpc", "export": "--export"}[source.kind]
        raise JointVAEError(f"--run: sample reads one model, got --run and {flag}")
    remote = source.kind in ("rest", "grpc")
    if tls_ca and not remote:
        raise JointVAEError("--tls-ca: only with --server or --grpc")
    if version is not None and not remote:
        raise JointVAEError("--version: only with --server or --grpc (--export takes saved_models/NAME/VERSION)")
    options = {}
    if remote:
        from jointvae_tf.serving.client import RetryPolicy

        options = {"version": version, "retry": RetryPolicy(attempts=retries, timeout=timeout), "tls_ca": tls_ca,
                   "max_batch_size": max_batch_size}
    with errors_as_flags(address="--server" if server else "--grpc", path="--export",
                         **{"retry.timeout": "--timeout"}):
        predictor = open_predictor(source, model=model, **options)
        try:
            outputs = sample_images(predictor, n, seed, parse_category(category))
        finally:
            predictor.close()
    cols = math.ceil(math.sqrt(n))
    pictures.save_png(out, plain_grid(outputs["images"], math.ceil(n / cols), cols, upscale))
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        for index, image in enumerate(pixels.to_uint8(outputs["images"])):
            pictures.save_png(os.path.join(out_dir, f"sample-{seed + index:06d}.png"), image)
    categories = ", ".join(_named(row, names) for row, names in
                           zip(outputs["categories"].tolist()[:8], outputs.get("category_names", [[]] * 8)))
    click.echo(f"Wrote {n} samples to {out}" + (f" and {out_dir}/" if out_dir else "") +
               (f"; categories {categories}{' ...' if n > 8 else ''}" if outputs["categories"].size else ""))


def _named(row: list[int], names) -> str:
    """``[2]``, or ``[2] (star)`` when the export names the category."""
    named = [name.decode() if isinstance(name, bytes) else str(name) for name in names]
    return f"{row}" + (f" ({', '.join(named)})" if any(named) else "")
