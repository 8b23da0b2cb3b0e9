"""Pictures of what a model learned: image grids, latent traversals, GIFs (depends on ``core`` to ``evaluation``)."""
