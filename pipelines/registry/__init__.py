"""Registry part of the pipelines package."""
