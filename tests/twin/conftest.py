"""Fixtures of the twin's cluster tests (defined in ``cluster_support``)."""

from tests.twin.cluster_support import argo_cluster, cluster, twin_home  # noqa: F401
