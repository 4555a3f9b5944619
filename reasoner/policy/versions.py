"""Policy versions: a set of graphs with an effective date, described by a Turtle manifest.

`versions/<id>/manifest.ttl` names the ontology and shapes graphs of a version, or a base version
(prov:wasRevisionOf) plus override files. An override restates properties of named subjects and
replaces the base's values of exactly those properties, so a draft is a small file an author can
read, not a copy of the whole policy. The vocabulary is in versions/vocabulary.ttl.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import unquote, urlparse

from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, PROV, SH
from rdflib.term import Node

from reasoner.policy.kb import PREFIXES, KnowledgeBase, load
from reasoner.policy.resources import data_dir, turtle_files

BXV = Namespace("https://w3id.org/blincyto-pa/versions#")
MANIFEST = "manifest.ttl"
CURRENT = "current"
GIT = "git:"


class VersionError(ValueError):
    """A version that cannot be found or whose manifest is broken (names the manifest)."""


@dataclass(frozen=True)
class PolicyVersion:
    """One manifest, as read; `graphs()` builds its ontology and shapes."""

    identifier: str
    title: str
    effective: date | None
    status: str
    manifest: Path
    policy_version: URIRef | None
    ontology: tuple[Path, ...]
    shapes: tuple[Path, ...]
    overrides: tuple[Path, ...]
    withdraws: tuple[URIRef, ...]
    base: "PolicyVersion | None" = None

    @property
    def label(self) -> str:
        when = f", effective {self.effective.isoformat()}" if self.effective else ""
        return f"{self.identifier} ({self.status}{when})"


@dataclass
class VersionGraphs:
    """The merged graphs of a version, and which file describes each subject (for lint messages)."""

    ontology: Graph
    shapes: Graph
    origin: dict[Node, list[Path]] = field(default_factory=dict)

    def files_of(self, term: Node) -> list[Path]:
        return self.origin.get(term, [])


def versions_dir() -> Path:
    """The shipped versions/ folder (a checkout's top level, or inside the wheel)."""
    return data_dir("versions")


def _path_of(iri: Node, manifest: Path) -> Path:
    if not isinstance(iri, URIRef) or not str(iri).startswith("file:"):
        raise VersionError(f"{manifest}: {iri} is not a file next to the manifest")
    return Path(unquote(urlparse(str(iri)).path))


def _turtle(paths: Iterable[Path], manifest: Path) -> tuple[Path, ...]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.glob("*.ttl")))
        elif p.is_file():
            out.append(p)
        else:
            raise VersionError(f"{manifest}: no such graph file or folder: {p}")
    return tuple(out)


def parse_turtle(path: Path, public_id: str | None = None) -> Graph:
    """A Turtle file as a graph, or a VersionError naming the file and the line, never its content.

    rdflib's own errors quote the first bytes of the file (`--version /etc/passwd` would print the
    password file); a structure nested past Python's recursion limit is named as such.
    """
    try:
        return Graph().parse(path, format="turtle", publicID=public_id)
    except RecursionError:
        raise VersionError(f"{path}: blank nodes or lists nested too deeply to read") from None
    except UnicodeDecodeError:
        raise VersionError(f"{path}: not UTF-8 text, so not a Turtle file") from None
    except OSError as exc:
        raise VersionError(f"{path}: cannot be read ({exc.strerror or 'error'})") from None
    except Exception as exc:  # noqa: BLE001 - rdflib's BadSyntax and friends: name the line only
        line = getattr(exc, "lines", None)
        where = f" (line {line + 1})" if isinstance(line, int) else ""
        raise VersionError(f"{path}: not valid Turtle{where}") from None


def read_manifest(path: Path | str, _seen: tuple[Path, ...] = ()) -> PolicyVersion:
    """The version a manifest (or the folder holding one) describes, its base read as well."""
    path = Path(path).resolve()
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise VersionError(f"no version manifest at {path}")
    if path.suffix != ".ttl":
        raise VersionError(f"{path} is not a version manifest (a {MANIFEST}, or a folder holding one)")
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise VersionError(f"{_seen[0]}: prov:wasRevisionOf goes round in a circle ({chain})")
    g = parse_turtle(path, path.as_uri())
    node = next(iter(g.subjects(RDF.type, BXV.PolicyVersionManifest)), None)
    if node is None:
        raise VersionError(f"{path}: no bxv:PolicyVersionManifest")

    def objects(p: URIRef) -> list[Node]:
        return sorted(g.objects(node, p))

    base_iri = g.value(node, PROV.wasRevisionOf)
    base = read_manifest(_path_of(base_iri, path), (*_seen, path)) if base_iri is not None else None
    valid = g.value(node, DCTERMS.valid)
    effective = valid.toPython() if isinstance(valid, Literal) else None
    identifier = g.value(node, DCTERMS.identifier)
    if identifier is None:
        raise VersionError(f"{path}: no dcterms:identifier")
    return PolicyVersion(
        identifier=str(identifier),
        title=str(g.value(node, DCTERMS.title) or identifier),
        effective=effective if isinstance(effective, date) else None,
        status=str(g.value(node, BXV.status) or "draft"),
        manifest=path,
        policy_version=g.value(node, BXV.policyVersion),
        ontology=_turtle([_path_of(o, path) for o in objects(BXV.ontologyGraphs)], path),
        shapes=_turtle([_path_of(o, path) for o in objects(BXV.shapesGraphs)], path),
        overrides=_turtle([_path_of(o, path) for o in objects(BXV.overrides)], path),
        withdraws=tuple(o for o in objects(BXV.withdraws) if isinstance(o, URIRef)),
        base=base,
    )


def list_versions(directory: Path | None = None, broken: list[VersionError] | None = None) -> list[PolicyVersion]:
    """Every version under `directory` (default: the shipped versions/), oldest effective first.

    A manifest that cannot be read raises, unless `broken` is given: then its error is added there
    and the others are listed (one bad draft must not hide every other version).
    """
    directory = directory or versions_dir()
    found = []
    for p in sorted(Path(directory).glob(f"*/{MANIFEST}")):
        try:
            found.append(read_manifest(p))
        except VersionError as exc:
            if broken is None:
                raise
            broken.append(exc)
    return sorted(found, key=lambda v: (v.effective or date.max, v.identifier))


def from_git(revision: str) -> PolicyVersion:
    """The ontology/ and shapes/ of a git revision of the checkout (`git:HEAD`): what an author
    compares in-place edits with. Read with `git show`, nothing fetched; kept in a temporary folder."""
    root = data_dir("ontology").parent
    if not (root / ".git").exists() or shutil.which("git") is None:
        raise VersionError(f"git:{revision}: {root} is not a git checkout")

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        if done.returncode != 0:
            raise VersionError(f"git:{revision}: {done.stderr.strip() or 'git failed'}")
        return done.stdout

    out = Path(tempfile.mkdtemp(prefix="blincyto-git-"))
    atexit.register(shutil.rmtree, out, True)
    files: dict[str, list[Path]] = {"ontology": [], "shapes": []}
    for folder, found in files.items():
        for name in sorted(git("ls-tree", "-r", "--name-only", revision, "--", f"{folder}/").split()):
            if name.endswith(".ttl"):
                target = out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(git("show", f"{revision}:{name}"), encoding="utf-8")
                found.append(target)
    if not files["ontology"] or not files["shapes"]:
        raise VersionError(f"git:{revision}: no ontology/ or shapes/ at that revision")
    return PolicyVersion(f"git:{revision}", f"ontology/ and shapes/ at git {revision}", None, "git", out, None,
                         tuple(files["ontology"]), tuple(files["shapes"]), (), ())


def resolve(spec: str | Path | PolicyVersion, directory: Path | None = None) -> PolicyVersion:
    """A version by manifest path, folder, identifier, "current", or `git:REV` (the checkout's history)."""
    if isinstance(spec, PolicyVersion):
        return spec
    if str(spec).startswith(GIT):
        return from_git(str(spec)[len(GIT):] or "HEAD")
    as_path = Path(spec)
    if as_path.exists():
        return read_manifest(as_path)
    broken: list[VersionError] = []
    versions = list_versions(directory, broken)
    for v in versions:
        if v.identifier == str(spec) or (str(spec) == CURRENT and v.status == CURRENT):
            return v
    known = ", ".join(v.identifier for v in versions) or "none"
    unread = f"; {len(broken)} manifest(s) could not be read: {broken[0]}" if broken else ""
    raise VersionError(f"no policy version {spec!r} (known: {known}){unread}")


# ---------------------------------------------------------------------------------------------
# Building a version's graphs
# ---------------------------------------------------------------------------------------------

def graphs(version: PolicyVersion, parse: Callable[[Path], Graph] = parse_turtle) -> VersionGraphs:
    """The version's ontology and shapes: its base's (or its own files), then withdrawals and overrides.
    `parse`: how a file is read (lint reads each file once for every version it builds: the graphs it
    gives are only read here, never changed)."""
    if version.base is not None:
        out = graphs(version.base, parse)
    else:
        out = VersionGraphs(Graph(), Graph())
        for target, files in ((out.ontology, version.ontology), (out.shapes, version.shapes)):
            for path in files:
                part = parse(path)
                target += part
                _record(out, part, path)
    for term in version.withdraws:
        for g in (out.ontology, out.shapes):
            for p, o in list(g.predicate_objects(term)):
                g.remove((term, p, o))
                _drop_orphan(g, o)
        out.origin.setdefault(term, []).append(version.manifest)
    for path in version.overrides:
        override = parse(path)
        apply_override(out, override)
        _record(out, override, path)
    for prefix, ns in PREFIXES.items():
        out.ontology.bind(prefix, ns)
        out.shapes.bind(prefix, ns)
    return out


def inputs(version: PolicyVersion) -> list[tuple[str, Path]]:
    """(role, file) of every file `graphs(version)` reads, in its order: the key of the version's cached
    knowledge base (the manifests say the withdrawals and which file is which)."""
    if version.base is not None:
        out = inputs(version.base)
    else:
        out = [("ontology", p) for p in version.ontology] + [("shapes", p) for p in version.shapes]
    manifest = [("manifest", version.manifest)] if version.manifest.is_file() else []  # (shipped): a folder
    return [*out, *manifest, *(("override", p) for p in version.overrides)]


def shipped_graphs(parse: Callable[[Path], Graph] = parse_turtle) -> VersionGraphs:
    """The package's own ontology/ and shapes/ (what `Reasoner()` loads), with each subject's file."""
    return graphs(PolicyVersion("(shipped)", "ontology/ and shapes/", None, CURRENT, data_dir("ontology"), None,
                                tuple(turtle_files("ontology")), tuple(turtle_files("shapes")), (), ()), parse)


def _record(out: VersionGraphs, g: Graph, path: Path) -> None:
    for s in set(g.subjects()):
        if isinstance(s, URIRef) and path not in out.origin.setdefault(s, []):
            out.origin[s].append(path)


def _uses_shacl(g: Graph, s: Node) -> bool:
    return any(str(p).startswith(str(SH)) or str(o).startswith(str(SH)) for p, o in g.predicate_objects(s))


def apply_override(out: VersionGraphs, override: Graph) -> None:
    """Replace, for every named subject the override describes, the values of each property it states."""
    for s in sorted({s for s in override.subjects() if isinstance(s, URIRef)}):
        if (s, None, None) in out.shapes:
            target = out.shapes
        elif (s, None, None) in out.ontology:
            target = out.ontology
        else:
            target = out.shapes if _uses_shacl(override, s) else out.ontology
        for p in set(override.predicates(s)):
            for o in list(target.objects(s, p)):
                target.remove((s, p, o))
                _drop_orphan(target, o)
            for o in override.objects(s, p):
                target.add((s, p, o))
                _copy_closure(override, target, o)


def _copy_closure(src: Graph, dst: Graph, node: Node) -> None:
    todo, seen = [node], set()
    while todo:
        n = todo.pop()
        if not isinstance(n, BNode) or n in seen:
            continue
        seen.add(n)
        for p, o in src.predicate_objects(n):
            dst.add((n, p, o))
            todo.append(o)


def _drop_orphan(g: Graph, node: Node) -> None:
    """Remove a blank node's description once nothing points to it any more (lists, constraints).

    Iterative: a replaced list of 5,000 items is a chain 5,000 blank nodes long.
    """
    todo = [node]
    while todo:
        n = todo.pop()
        if not isinstance(n, BNode) or (None, None, n) in g:
            continue
        for p, o in list(g.predicate_objects(n)):
            g.remove((n, p, o))
            todo.append(o)


def load_kb(version: str | Path | PolicyVersion, extra_kb: Iterable[Path] = (),
            directory: Path | None = None) -> KnowledgeBase:
    """The knowledge base of a version, indexed as the engine needs it."""
    spec = resolve(version, directory)

    def build() -> tuple[Graph, Graph, Callable[[Node], str]]:
        built = graphs(spec)

        def origin(term: Node) -> str:
            files = built.files_of(term)
            return str(files[-1]) if files else ""
        return built.ontology, built.shapes, origin
    try:
        return load(extra_kb, version=(inputs(spec), build))
    except RecursionError:
        raise VersionError(f"{spec.manifest}: its graphs nest too deeply to load") from None
