"""``jvae-tf explore``: a local web page that moves a model's latents and shows the decoded image, live.

- :mod:`~jointvae_tf.serving.explorer.app`: the model-facing logic (:class:`Explorer`, :func:`open_explorer`);
- :mod:`~jointvae_tf.serving.explorer.held_out`: KL per latent and category names from held-out images;
- :mod:`~jointvae_tf.serving.explorer.server`: the local HTTP server (:func:`make_server`, :func:`address`);
- ``static/``: the page (HTML, CSS and plain JavaScript, nothing fetched from elsewhere).
"""

from jointvae_tf.serving.explorer.app import Explorer, open_explorer
from jointvae_tf.serving.explorer.server import address, make_server

__all__ = ["Explorer", "address", "make_server", "open_explorer"]
