"""Runbook and playbook commands, extracted from the docs and executed (against the twin)."""
