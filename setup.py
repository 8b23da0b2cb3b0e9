"""Package discovery that pyproject.toml cannot express alone: every package under ``jointvae_tf/``, plus
the top-level ``cli/`` folder installed as ``jointvae_tf.cli``. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["jointvae_tf", "jointvae_tf.*"]), "jointvae_tf.cli"],
      package_dir={"jointvae_tf.cli": "cli"})
