"""Delivery part of the pipelines package."""
