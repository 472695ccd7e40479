"""The image table: what a container's ``image:`` runs as on this machine.

- **Project images** (any repository pushed to the twin's registry, by tag or digest): the
  image's tree from ``twin/registry.py`` (its ``rootfs`` is the container's ``/``), its
  ENTRYPOINT/CMD/ENV/USER/WORKDIR, run with the twin's runtime venv (limited to the image
  lock's ``packages``: ``runtime.ensure_view``) and ``PYTHONPATH`` on the image's project,
  inside the pod network (``podnet/sitecustomize.py``).
- **Tool images**, a short explicit table of host tools: ``alpine/git`` (git, with GitHub
  rewritten to the twin's), ``bitnami/kubectl`` (the kubectl shim), ``curlimages/curl`` (curl
  with a ``.curlrc`` of ``connect-to`` lines), ``quay.io/argoproj/kubectl-argo-rollouts``
  (its shim). They run as root on the host network (they only need cluster names, which the
  generated configs map).

Any other image fails to "pull" with one line naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from twin import registry
from twin.errors import TwinError

SYSTEM_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

# repository (without registry host docker.io) -> (entrypoint, what it is)
TOOL_IMAGES: dict[str, tuple[list[str], str]] = {
    "alpine/git": (["git"], "git"),
    "bitnami/kubectl": (["kubectl"], "the twin's kubectl shim"),
    "curlimages/curl": (["curl"], "curl"),
    "quay.io/argoproj/kubectl-argo-rollouts": (["kubectl-argo-rollouts"], "the rollouts shim"),
}


class ImagePullError(TwinError):
    """The image is neither in the twin's registry nor in the tool table."""


@dataclass
class ImageRuntime:
    """How to run one image here."""

    reference: str
    project: bool
    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    python_paths: list[str] = field(default_factory=list)  # host folders
    rootfs: Path | None = None
    workdir: str = "/"
    user: str = ""
    stop_signal: str = "SIGTERM"
    digest: str = ""
    packages: list[str] = field(default_factory=list)  # the image lock's; empty: the whole venv


def _repository(reference: str) -> str:
    repository, _, _ = registry.split_reference(reference)
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        if repository.startswith(prefix):
            return repository[len(prefix) :]
    return repository


class ImageTable:
    """Resolves image references for the pod runner."""

    def __init__(self, home: Path, runtime: Path) -> None:
        self.home = home
        self.runtime = runtime  # runtime.ensure_runtime's folder: bin/, shims/, podnet/

    def resolve(self, reference: str) -> ImageRuntime:
        """The runtime for ``reference``.

        Raises:
            ImagePullError: Unknown image, or a project tag/digest never pushed.
        """
        repository = _repository(reference)
        if repository in TOOL_IMAGES:
            entrypoint, _ = TOOL_IMAGES[repository]
            shims = str(self.runtime / "shims")
            return ImageRuntime(reference, False, entrypoint, [], path=[shims, *SYSTEM_PATH])
        digest = registry.resolve(reference, home=self.home)
        if digest is None:
            known = ", ".join(sorted(TOOL_IMAGES))
            raise ImagePullError(
                f"image {reference!r} is not in the twin's registry nor its image table "
                f"(project images pushed to the twin registry; {known})"
            )
        tree = registry.materialise(digest, home=self.home)
        config = registry.image_config(digest, home=self.home)
        rootfs = tree / "rootfs"
        env = {k: v for k, v in dict(config.get("env") or {}).items() if k != "PATH"}
        return ImageRuntime(
            reference=reference,
            project=True,
            entrypoint=list(config.get("entrypoint") or []),
            cmd=list(config.get("cmd") or []),
            env=env,
            path=[str(self.runtime / "bin"), str(self.runtime / "shims"), *SYSTEM_PATH],
            python_paths=[
                *(str(rootfs / p.lstrip("/")) for p in config.get("python_paths") or []),
                str(self.runtime / "podnet"),
            ],
            rootfs=rootfs,
            workdir=str(config.get("workdir") or "/"),
            user=str(config.get("user") or ""),
            stop_signal=str(config.get("stopsignal") or "SIGTERM"),
            digest=digest,
            packages=[str(p) for p in config.get("packages") or []],
        )
