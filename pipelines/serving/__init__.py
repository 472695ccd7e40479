"""Serving part of the pipelines package."""
