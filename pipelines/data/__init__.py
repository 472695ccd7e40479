"""Data part of the pipelines package: sources, validation, features, store, health."""
