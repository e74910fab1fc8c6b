"""rejoinder: Kubernetes-native training and serving of dialog models."""

__version__ = "0.1.0"
