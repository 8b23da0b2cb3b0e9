"""The jvae-tf command: a thin click layer over the jointvae_tf library (entry point `cli.main:main`)."""
