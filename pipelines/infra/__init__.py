"""Offline checks of the Terraform tree that checkov does not cover (python-hcl2 based)."""
