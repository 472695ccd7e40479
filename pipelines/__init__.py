"""GitOps pipelines for a trading model: data, training, gates, promotion, delivery, monitoring."""

__version__ = "0.1.0"
