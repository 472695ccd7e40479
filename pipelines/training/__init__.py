"""Training part of the pipelines package."""
