"""The model and what defines it: configs, latent codes, losses, capacity schedules, networks, invariance
terms, and :class:`~jointvae_tf.core.model.JointVAE` itself. Depends on nothing else in the package."""
