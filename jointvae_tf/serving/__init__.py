"""A trained model served: the SavedModel export, TF-Serving clients and the local explorer (the top layer
of the library; ``jointvae_tf.cli`` sits above it)."""
