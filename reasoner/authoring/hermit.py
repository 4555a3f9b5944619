"""HermiT's verdict on an ontology graph, for lint: is it consistent, which classes are unsatisfiable.

owlready2's `sync_reasoner` loads the graph into a World, writes it out again and asks HermiT to
classify the classes, the properties and the instances (`-c -O -D -I`): about 13 s of CPU on the
shipped ontology. Lint needs two answers, and HermiT's `-U` gives both alone: the classes equivalent
to owl:Nothing, or exit status 1 with "Inconsistent ontology". So lint runs owlready2's own HermiT
jar with `-U` on the N-Triples it writes, and with the JVM's first JIT tier only (a run this short
spends most of its CPU compiling Java; the answers do not depend on it): about 2 s of CPU.

The verdict is kept between runs (a policy author lints an unchanged ontology again and again),
keyed by the content of the graph HermiT is given, up to blank-node labels (`content_key`), the
owlready2 version, the jar's bytes and the command; in the knowledge base's cache directory, with its
safety (reasoner/policy/cache.py: a private directory, atomic writes, `BLINCYTO_CACHE=0` turns it
off). A graph whose blank nodes are not trees (a blank node named twice, or in a cycle) has no key:
HermiT runs every time. A run that fails is never kept.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rdflib import BNode, Graph
from rdflib.namespace import OWL
from rdflib.term import Node

from reasoner.policy import cache

__all__ = ["HermitError", "Verdict", "content_key", "verdict"]

FORMAT = "blincyto-hermit-verdict 1"
# -U: the unsatisfiable classes; --ignoreUnsupportedDatatypes as lint always ran it (owlready2's flag);
# -N: every class as its full IRI. Without it HermiT abbreviates with a default prefix it takes from
# one of the graph's owl:Ontology nodes, which one depending on the order of the lines written, so a
# class could come out as `:DiseaseDose` with nothing to say what `:` stands for.
OPTIONS = ("-U", "--ignoreUnsupportedDatatypes", "-N")
JVM = ("-Xmx2000M", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")  # owlready2's heap; C1 only, one GC thread
_HEADING = f"Classes equivalent to '{OWL.Nothing}':"
_FULL_IRI = re.compile(r'(?:[A-Za-z][A-Za-z0-9+.-]*://|urn:)[^\s<>"{}|^`\\]+')  # not `:Name`, not `bx:Name`


class HermitError(RuntimeError):
    """HermiT did not give a verdict (not installed, or it failed): said, never cached."""


@dataclass(frozen=True)
class Verdict:
    consistent: bool
    unsatisfiable: tuple[str, ...] = ()  # class IRIs, sorted (owl:Nothing left out)


def verdict(graph: Graph) -> Verdict:
    """HermiT's verdict on `graph` (from the cache when this very content was checked before)."""
    jar = _jar()
    entry = None
    content = content_key(graph)
    if content is not None:
        entry = _entry(content, jar)
        kept = _read(entry)
        if kept is not None:
            return kept
    found = _run(graph, jar)
    if entry is not None:
        cache.write_note(entry, json.dumps({"consistent": found.consistent, "unsatisfiable": list(found.unsatisfiable)}))
    return found


def _jar() -> Path:
    spec = importlib.util.find_spec("owlready2")  # not imported: its import alone costs more than a cache hit
    if spec is None or not spec.submodule_search_locations:
        raise HermitError("owlready2 is not installed: HermiT did not run")
    jar = Path(list(spec.submodule_search_locations)[0]) / "hermit" / "HermiT.jar"
    if not jar.is_file():
        raise HermitError(f"owlready2's HermiT is not at {jar}: HermiT did not run")
    return jar


def _run(graph: Graph, jar: Path) -> Verdict:
    java = shutil.which("java")
    if java is None:
        raise HermitError("java is not installed: HermiT did not run")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ontology.nt"
        graph.serialize(destination=str(path), format="nt", encoding="utf-8")
        classpath = os.pathsep.join((str(jar.parent), str(jar)))
        command = [java, *JVM, "-cp", classpath, "org.semanticweb.HermiT.cli.CommandLine", *OPTIONS, path.as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our command
    if done.returncode == 1 and "Inconsistent ontology" in (done.stdout + done.stderr):
        return Verdict(False)
    if done.returncode != 0 or _HEADING not in done.stdout:
        last = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()[-1]
        raise HermitError(f"HermiT failed: {last[:300]}")
    return Verdict(True, tuple(sorted(_classes(done.stdout.split(_HEADING, 1)[1]))))


def _classes(listing: str) -> list[str]:
    """The classes HermiT listed under the heading (with -N, one full IRI a line), owl:Nothing left out."""
    out = []
    for line in filter(None, (x.strip() for x in listing.splitlines())):
        iri = line[1:-1] if line.startswith("<") and line.endswith(">") else line
        if _FULL_IRI.fullmatch(iri) is None:
            raise HermitError(f"HermiT printed a class lint cannot read: {line[:200]}")
        out.append(iri)
    return [iri for iri in out if iri != str(OWL.Nothing)]


def content_key(graph: Graph) -> str | None:
    """A digest equal for two graphs exactly when they have the same triples up to blank-node labels,
    or None when a blank node is not a tree (named as the object of two triples, or in a cycle).

    A tree blank node (what Turtle writes as `[ ... ]` and `( ... )`: OWL restrictions, lists) is
    named by the digest of what hangs from it, so the graph's digest is that of its sorted lines. In
    time and memory linear in the graph (rdflib.compare's canonical form takes some 20 s on the
    shipped ontology)."""
    out: dict[BNode, list[tuple[str, Node]]] = {}
    named_by: dict[BNode, int] = {}
    lines: list[tuple[Node, str, Node]] = []
    for s, p, o in graph:
        if isinstance(o, BNode):
            named_by[o] = named_by.get(o, 0) + 1
            if named_by[o] > 1:
                return None
        if isinstance(s, BNode):
            out.setdefault(s, []).append((p.n3(), o))
        else:
            lines.append((s, p.n3(), o))
    digests: dict[BNode, str] = {}
    for root in [b for b in out if b not in named_by] + [o for _s, _p, o in lines if isinstance(o, BNode)]:
        if not _digest_tree(root, out, digests):
            return None
    if len(digests) != len(set(out) | set(named_by)):
        return None  # a blank node no root reaches: a cycle
    h = hashlib.blake2b(FORMAT.encode(), digest_size=32)
    top = sorted([f"{s.n3()} {p} {_text(o, digests)}" for s, p, o in lines]
                 + [digests[b] for b in out if b not in named_by])
    for line in top:
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _digest_tree(root: BNode, out: dict, digests: dict) -> bool:
    """Digest every blank node under `root`, children first (iterative: a list may be long)."""
    stack: list[tuple[BNode, bool]] = [(root, False)]
    on_path: set[BNode] = set()
    while stack:
        node, children_done = stack.pop()
        if node in digests:
            continue
        if children_done:
            on_path.discard(node)
            body = sorted(f"{p} {_text(o, digests)}" for p, o in out.get(node, ()))
            digests[node] = "_:" + hashlib.blake2b("\n".join(body).encode("utf-8"), digest_size=32).hexdigest()
            continue
        if node in on_path:
            return False
        on_path.add(node)
        stack.append((node, True))
        for _p, o in out.get(node, ()):
            if isinstance(o, BNode) and o not in digests:
                if o in on_path:
                    return False
                stack.append((o, False))
    return True


def _text(node: Node, digests: dict) -> str:
    return digests[node] if isinstance(node, BNode) else node.n3()


def _entry(content: str, jar: Path) -> str:
    h = hashlib.blake2b(FORMAT.encode(), digest_size=32)
    try:
        owlready = importlib.metadata.version("owlready2")
    except importlib.metadata.PackageNotFoundError:
        owlready = "?"
    h.update(f"\0{owlready}\0{' '.join(OPTIONS)}\0{content}\0".encode())
    with open(jar, "rb") as f:
        h.update(hashlib.blake2b(f.read(), digest_size=32).digest())
    return h.hexdigest()


def _read(entry: str) -> Verdict | None:
    text = cache.read_note(entry)
    if text is None:
        return None
    try:
        data = json.loads(text)
        consistent, unsatisfiable = data["consistent"], data["unsatisfiable"]
        if not isinstance(consistent, bool) or not all(isinstance(c, str) for c in unsatisfiable):
            return None
        return Verdict(consistent, tuple(unsatisfiable))
    except (ValueError, KeyError, TypeError):
        return None  # not one of ours: run HermiT (and write it again)
