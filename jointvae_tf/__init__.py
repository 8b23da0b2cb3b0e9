"""jointvae-tf: JointVAE (Dupont 2018) in Keras/TensorFlow."""

__version__ = "0.1.0"
