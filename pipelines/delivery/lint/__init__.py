"""``pipelines lint``: kustomize overlays, Argo schemas and semantics, GitHub workflow audits."""
