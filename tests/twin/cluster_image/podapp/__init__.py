"""A small HTTP service for the twin's pod tests."""
