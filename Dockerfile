# The strategy service image (`pipelines serve`), also used by the analysis Job (`pipelines analyze`).
#
# Not built in this repository's CI sandbox (no Docker engine there). The base image is pinned
# by digest; the digest below is python:3.11-slim as published on Docker Hub and seen pinned in
# public Dockerfiles, NOT re-verified here: refresh it before building with
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
# The model is NOT baked in: at start the service reads the manifest mounted at /config/model.yaml
# (environments/<env>/model.yaml), fetches the artifact from its URI (s3:// through boto3, with
# AWS_ENDPOINT_URL for a non-AWS store) and refuses it unless its sha256 matches.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipelines ./pipelines
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
# libgomp1: LightGBM's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY params.yaml ./params.yaml
COPY environments ./environments
# Downloaded models go to /app/.cache/models (serving.model_cache_dir): mount an emptyDir there
# when the root filesystem is read-only.
RUN mkdir -p /app/.cache/models && chown -R app:app /app/.cache
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    DO_NOT_TRACK=true \
    MLFLOW_DISABLE_TELEMETRY=true \
    DVC_NO_ANALYTICS=1
USER 10001:10001
EXPOSE 8080
# Kubernetes probes use /healthz and /readyz; SIGTERM drains requests in flight and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["pipelines"]
CMD ["serve", "--manifest", "/config/model.yaml", "--settings", "/config/settings.yaml", "--host", "0.0.0.0", "--port", "8080"]
