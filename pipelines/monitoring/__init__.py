"""Monitoring part of the pipelines package."""
