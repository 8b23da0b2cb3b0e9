"""``jvae-tf explore``: the latent space in the browser, live (a local web server, see
``jointvae_tf.serving.explorer``)."""

from __future__ import annotations

import secrets
import signal
import webbrowser

import click

from jointvae_tf.cli.options import VERSION, errors_as_flags, model_source
from jointvae_tf.errors import JointVAEError


@click.command("explore")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--export", "export_dir", default=None, type=click.Path(file_okay=False),
              help="Explore saved_models/NAME[/VERSION] (the latest version when none is given).")
@click.option("--server", default=None, help="Explore the model a TF-Serving serves over REST, e.g. http://localhost:8501.")
@click.option("--grpc", "grpc_address", default=None, help="Explore the model a TF-Serving serves over gRPC, e.g. localhost:8500.")
@click.option("--model", default="jointvae", show_default=True, help="Served model name (--server/--grpc).")
@click.option("--version", type=VERSION, default=None, help="Served model version [latest].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8850, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--max-examples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Validation images of the run that measure each dim's KL (and name the categories when the "
                   "export does not).")
@click.option("--open/--no-open", "open_page", default=True, show_default=True, help="Open the page in a browser.")
def explore(run_dir, export_dir, server, grpc_address, model, version, host, port, max_examples, open_page):
    """Serve a page that moves the latents of a model and shows the decoded image, live.

    RUN_DIR alone explores the run's latest checkpoint. With --export, --server or --grpc, RUN_DIR names the
    model's run folder (an export remembers its own), whose validation images order the sliders by KL.
    The printed address carries a token made at each start: only requests that carry it are answered.
    """
    from jointvae_tf.serving.explorer import address, make_server, open_explorer
    from jointvae_tf.serving.sources import open_predictor

    source, run_dir = model_source(run_dir, export_dir, server, grpc_address, run_name="RUN_DIR")
    if version is not None and source.kind not in ("rest", "grpc"):
        raise JointVAEError("--version: only with --server or --grpc (--export takes saved_models/NAME/VERSION)")
    with errors_as_flags(grpc="--grpc", address="--server" if server else "--grpc", path="--export"):
        explorer = open_explorer(open_predictor(source, model=model, version=version), run_dir, max_examples)
    try:
        http_server = make_server(explorer, host, port, token=secrets.token_urlsafe(24))
        url = address(http_server)
        click.echo(f"Exploring {explorer.title} at {url} ({explorer.held_out.description}); Ctrl-C stops.")
        if open_page:
            webbrowser.open(url)
        signal.signal(signal.SIGTERM, _stop)  # `kill` stops it as Ctrl-C does, closing the model cleanly
        try:
            http_server.serve_forever()
        except KeyboardInterrupt:
            click.echo("Stopped.")
        finally:
            http_server.server_close()
    finally:
        explorer.close()


def _stop(signum, frame):
    raise KeyboardInterrupt
