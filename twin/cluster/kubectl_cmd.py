"""The kubectl verbs the twin serves (run in the cluster process for the kubectl shim).

``apply`` (server-side: the whole object replaced, status kept), ``create``, ``get``,
``delete``; ``-n``, ``-A``, ``-l``, ``-f FILE|-``, ``-o`` (``kubectl_output``). Errors are
kubectl's one-line messages, exit status 1; an unknown verb or flag fails naming it.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipelines.delivery.lint.schemas import validate_objects
from twin.cluster.interfaces import Obj, ObjectStore
from twin.cluster.kinds import Kind, KindTable
from twin.cluster.kubectl_output import ref, render, selected
from twin.errors import TwinError

VERBS = ("apply", "create", "get", "delete")
_VALUE_FLAGS = {
    "-n",
    "--namespace",
    "-o",
    "--output",
    "-f",
    "--filename",
    "--field-manager",
    "--validate",
    "-l",
    "--selector",
}
_BOOL_FLAGS = {
    "--server-side",
    "--force-conflicts",
    "-A",
    "--all-namespaces",
    "--ignore-not-found",
    "--wait",
    "--overwrite",
}


@dataclass
class Result:
    """What the shim prints and its exit status."""

    code: int = 0
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)


@dataclass
class Args:
    """A parsed kubectl command line."""

    verb: str
    positional: list[str]
    flags: dict[str, str]


def parse(argv: list[str]) -> Args:
    """Split argv into verb, positional arguments and flags (``--flag=value`` or ``--flag value``).

    Raises:
        TwinError: No verb, an unknown verb or an unknown flag.
    """
    positional: list[str] = []
    flags: dict[str, str] = {}
    items = list(argv)
    while items:
        item = items.pop(0)
        name, eq, value = item.partition("=")
        if item.startswith("-") and item != "-":
            name = {
                "--namespace": "-n",
                "--output": "-o",
                "--filename": "-f",
                "--all-namespaces": "-A",
                "--selector": "-l",
            }.get(name, name)
            if name in _VALUE_FLAGS:
                if not eq:
                    if not items:
                        raise TwinError(f"flag needs an argument: {item}")
                    value = items.pop(0)
                flags[name] = value
            elif name in _BOOL_FLAGS:
                flags[name] = value if eq else "true"
            else:
                raise TwinError(f"unknown flag: {item} (the twin's kubectl does not implement it)")
        else:
            positional.append(item)
    if not positional:
        raise TwinError("kubectl: a verb is required (" + ", ".join(VERBS) + ", kustomize)")
    verb = positional.pop(0)
    if verb not in VERBS:
        raise TwinError(f"kubectl {verb}: not implemented by the twin (has {', '.join(VERBS)})")
    return Args(verb, positional, flags)


def load_documents(text: str, source: str) -> list[Obj]:
    """Objects in multi-document YAML or JSON (``List`` kinds expanded, empty docs skipped).

    Raises:
        TwinError: Unparsable input, or a document that is not an object with a kind.
    """
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise TwinError(f"error: error parsing {source}: {str(exc).splitlines()[0]}") from None
    out: list[Obj] = []
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc:
            raise TwinError(f"error: error validating {source}: a document has no 'kind'")
        is_list = str(doc["kind"]).endswith("List")
        out.extend((doc.get("items") or []) if is_list else [doc])
    return out


class Kubectl:
    """Runs kubectl commands against an object store."""

    def __init__(self, store: ObjectStore, shared: Path | None) -> None:
        self.store = store
        self.kinds = KindTable(store)
        self.shared = shared

    def run(self, argv: list[str], stdin: str | None, files: dict[str, str]) -> Result:
        """Run one command line; every failure becomes kubectl's one line and status 1."""
        result = Result()
        try:
            args = parse(argv)
            getattr(self, f"_{args.verb}")(args, stdin, files, result)
        except TwinError as exc:
            result.code = 1
            result.err.append(str(exc))
        return result

    # -- verbs ---------------------------------------------------------------------------
    def _apply(self, args: Args, stdin: str | None, files: dict[str, str], res: Result) -> None:
        server_side = args.flags.get("--server-side") == "true"
        for item in self._objects_from(args, stdin, files):
            if isinstance(item, TwinError):
                res.code = 1
                res.err.append(str(item))
                continue
            obj, kind = item
            existed = self.store.get(kind.kind, _ns(obj, kind), obj["metadata"]["name"])
            stored = self.store.apply(obj)
            word = "serverside-applied" if server_side else ("configured" if existed else "created")
            if existed and not server_side and existed.get("spec") == stored.get("spec"):
                word = "unchanged"
            res.out.append(f"{ref(kind, stored)} {word}")

    def _create(self, args: Args, stdin: str | None, files: dict[str, str], res: Result) -> None:
        for item in self._objects_from(args, stdin, files):
            if isinstance(item, TwinError):
                raise item
            obj, kind = item
            name = obj["metadata"]["name"]
            if self.store.get(kind.kind, _ns(obj, kind), name) is not None:
                raise TwinError(
                    f'Error from server (AlreadyExists): {kind.resource} "{name}" already exists'
                )
            stored = self.store.apply(obj)
            res.out.append(
                render(args.flags.get("-o", ""), kind, [stored], single=True, verb="created")
            )

    def _get(self, args: Args, stdin: str | None, files: dict[str, str], res: Result) -> None:
        if not args.positional:
            raise TwinError("error: you must specify the type of resource to get")
        what, names = args.positional[0], args.positional[1:]
        if "/" in what:
            what, name = what.split("/", 1)
            names = [name, *names]
        kind = self._kind(what)
        namespace = self._namespace(args, kind)
        found: list[Obj] = []
        for name in names:
            obj = self.store.get(kind.kind, namespace or "", name)
            if obj is None:
                res.code = 1
                res.err.append(f'Error from server (NotFound): {kind.resource} "{name}" not found')
            else:
                found.append(obj)
        if not names:
            found = self.store.list(kind.kind, None if args.flags.get("-A") else namespace)
            found = [o for o in found if selected(o, args.flags.get("-l", ""))]
            if not found and args.flags.get("-o") is None:
                where = f" in {namespace} namespace" if namespace else ""
                res.err.append(f"No resources found{where}.")
                return
        if found:
            res.out.append(
                render(args.flags.get("-o", ""), kind, found, single=len(names) == 1, verb="")
            )

    def _delete(self, args: Args, stdin: str | None, files: dict[str, str], res: Result) -> None:
        targets: list[tuple[Kind, str, str]] = []
        if "-f" in args.flags:
            for item in self._objects_from(args, stdin, files, validate=False):
                if isinstance(item, TwinError):
                    raise item
                obj, kind = item
                targets.append((kind, _ns(obj, kind), obj["metadata"]["name"]))
        elif len(args.positional) >= 2:
            kind = self._kind(args.positional[0])
            targets = [(kind, self._namespace(args, kind), n) for n in args.positional[1:]]
        else:
            raise TwinError("error: delete needs KIND NAME... or -f FILE")
        for kind, namespace, name in targets:
            if self.store.delete(kind.kind, namespace, name):
                res.out.append(f'{kind.resource} "{name}" deleted')
            elif args.flags.get("--ignore-not-found") != "true":
                res.code = 1
                res.err.append(f'Error from server (NotFound): {kind.resource} "{name}" not found')

    # -- helpers -------------------------------------------------------------------------
    def _kind(self, name: str) -> Kind:
        kind = self.kinds.resolve(name)
        if kind is None:
            raise TwinError(f'error: the server doesn\'t have a resource type "{name}"')
        return kind

    def _namespace(self, args: Args, kind: Kind) -> str:
        if not kind.namespaced:
            return ""
        namespace = args.flags.get("-n") or "default"
        if self.store.get("Namespace", "", namespace) is None and namespace != "default":
            raise TwinError(f'Error from server (NotFound): namespaces "{namespace}" not found')
        return namespace

    def _objects_from(
        self, args: Args, stdin: str | None, files: dict[str, str], validate: bool = True
    ) -> Iterator[tuple[Obj, Kind] | TwinError]:
        """Each document, checked only when its turn comes (a Namespace applied earlier counts).

        Yields an error in place of a document that is refused, so the others still apply.
        """
        source = args.flags.get("-f")
        if source is None:
            raise TwinError("error: must specify one of -f and -k")
        if source == "-":
            text, label = stdin or "", "STDIN"
        elif source in files:
            text, label = files[source], source
        else:
            raise TwinError(f'error: the path "{source}" does not exist')
        for obj in load_documents(text, label):
            try:
                yield self._checked(args, obj, label, validate)
            except TwinError as exc:
                yield exc

    def _checked(self, args: Args, obj: Obj, label: str, validate: bool) -> tuple[Obj, Kind]:
        kind = self.kinds.for_object(obj)
        meta = obj.setdefault("metadata", {})
        name = meta.get("name") or ""
        if kind is None:
            raise TwinError(
                f'error: resource mapping not found for name: "{name}" namespace: '
                f'"{meta.get("namespace", "")}" from "{label}": no matches for kind '
                f'"{obj.get("kind")}" in version "{obj.get("apiVersion")}" '
                "(ensure CRDs are installed first)"
            )
        if not name and meta.get("generateName"):
            suffix = "".join(
                secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5)
            )
            meta["name"] = name = f"{meta['generateName']}{suffix}"
        if not name:
            raise TwinError(f"error: {label}: {obj['kind']} has no metadata.name")
        if kind.namespaced:
            meta["namespace"] = meta.get("namespace") or self._namespace(args, kind)
            self._namespace(Args("", [], {"-n": meta["namespace"]}), kind)
        else:
            meta.pop("namespace", None)
        if validate and args.flags.get("--validate", "strict") in ("strict", "true"):
            self._validate(obj, label)
        return obj, kind

    def _validate(self, obj: Obj, label: str) -> None:
        if self.shared is None:
            return
        findings = validate_objects(self.shared, label, [obj])
        if findings:
            raise TwinError(
                f"Error from server (BadRequest): error when applying {label}: "
                f"strict decoding error: {findings[0].where}: {findings[0].message}"
            )


def _ns(obj: Obj, kind: Kind) -> str:
    return str(obj.get("metadata", {}).get("namespace", "")) if kind.namespaced else ""
