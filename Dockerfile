# Two images from one file, both installed from the hashed lock in requirements/ with uv:
#   --target serve (the default, last stage): the strategy service (`pipelines serve`), also used
#       by the analysis Job (`pipelines analyze`); only requirements/serve.txt (the [serve] set).
#   --target tools: what the Argo templates run (`pipelines` with the default install: dvc,
#       mlflow, training), plus git, curl and kubectl.
#
# Not built in this repository's CI sandbox (no Docker engine there); `pipelines lint` runs
# hadolint on it. Base images are pinned by digest; the python:3.11-slim digest is as published
# on Docker Hub and seen pinned in public Dockerfiles, NOT re-verified here: refresh it with
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
# The model is NOT baked in: at start the service reads the manifest mounted at /config/model.yaml
# (environments/<env>/model.yaml), fetches the artifact from its URI (s3:// through boto3, with
# AWS_ENDPOINT_URL for a non-AWS store) and refuses it unless its sha256 matches.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS build
# UV_COMPILE_BYTECODE: the runtime never writes bytecode (read-only root, PYTHONDONTWRITEBYTECODE),
# so the venv is compiled here; without it every start compiles pandas, LightGBM and boto3 again.
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1
WORKDIR /src
COPY requirements/uv.txt requirements/build.txt requirements/serve.txt requirements/main.txt ./requirements/
# uv itself comes from the lock too (pinned version, every wheel's hash).
RUN python -m pip install --no-deps --only-binary :all: --require-hashes --target /opt/uv \
      -r requirements/uv.txt
COPY pyproject.toml README.md ./
COPY pipelines ./pipelines

FROM build AS build-serve
RUN /opt/uv/bin/uv venv --python /usr/local/bin/python3.11 /opt/venv \
    && /opt/uv/bin/uv pip sync --python /opt/venv/bin/python requirements/serve.txt \
    && /opt/uv/bin/uv pip install --python /opt/venv/bin/python --no-deps \
         --build-constraints requirements/build.txt .

FROM build AS build-tools
RUN /opt/uv/bin/uv venv --python /usr/local/bin/python3.11 /opt/venv \
    && /opt/uv/bin/uv pip sync --python /opt/venv/bin/python requirements/main.txt \
    && /opt/uv/bin/uv pip install --python /opt/venv/bin/python --no-deps \
         --build-constraints requirements/build.txt .

# The same kubectl the deploy template's kubectl steps use.
FROM bitnami/kubectl:1.32.4 AS kubectl

FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS runtime
# libgomp1: LightGBM's OpenMP runtime. The base image's pip, setuptools and wheel are removed:
# nothing installs at run time, and the venv never used them. Debian packages are not pinned by
# version (DL3008): the security archive replaces old versions; the base digest pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && rm -rf /usr/local/lib/python3.11/site-packages/pip* \
              /usr/local/lib/python3.11/site-packages/setuptools* \
              /usr/local/lib/python3.11/site-packages/wheel* \
              /usr/local/bin/pip* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    DO_NOT_TRACK=true \
    MLFLOW_DISABLE_TELEMETRY=true \
    DVC_NO_ANALYTICS=1
WORKDIR /app

FROM runtime AS tools
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=kubectl /opt/bitnami/kubectl/bin/kubectl /usr/local/bin/kubectl
COPY --from=build-tools /opt/venv /opt/venv
# Steps that run outside a checkout (the exit handler's rollback dispatch) read params from here.
COPY params.yaml ./params.yaml
# Argo steps run in a checked-out workspace (/workspace); HOME for git and DVC config.
ENV HOME=/tmp
USER 10001:10001
CMD ["pipelines", "--help"]

FROM runtime AS serve
COPY --from=build-serve /opt/venv /opt/venv
COPY params.yaml ./params.yaml
COPY environments ./environments
# Downloaded models go to /app/.cache/models (serving.model_cache_dir): mount an emptyDir there
# when the root filesystem is read-only.
RUN mkdir -p /app/.cache/models && chown -R app:app /app/.cache
USER 10001:10001
EXPOSE 8080
# Kubernetes probes use /healthz and /readyz; SIGTERM drains requests in flight and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["pipelines"]
CMD ["serve", "--manifest", "/config/model.yaml", "--settings", "/config/settings.yaml", "--host", "0.0.0.0", "--port", "8080"]
