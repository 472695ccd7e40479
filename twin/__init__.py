"""The production twin: the cluster-and-cloud shape of the platform on one machine.

Real servers wherever one can run here (S3 through moto, MLflow on PostgreSQL, Prometheus,
Pushgateway, Alertmanager); fakes only for the GitHub API, the Kubernetes API and the Argo
Server API. ``python -m twin --help`` lists the commands; docs/twin.md explains the shape.
This package is test infrastructure: it is not installed into the service image.
"""
