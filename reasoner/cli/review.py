"""Commands for policy authors: `review`, `lint`, `witnesses`, `diff`, `impact` (see docs in README).

    blincyto review [--policy-text PATH] [--version V] [--compare OLD] [--requests PATH] [--html FILE]
    blincyto lint [--version V] [--versions-dir DIR] [--no-hermit]
    blincyto witnesses [--version V] [--request-date DATE] [--format text|json]
    blincyto diff OLD NEW [--versions-dir DIR] [--format text|json]
    blincyto impact OLD NEW --requests FILE_OR_DIR_OR_STORE [--versions-dir DIR] [--format text|json]

A version is an identifier under versions/ ("2024-08", "draft-2025", "current"), a manifest, a
folder holding one, or git:REV (the checkout's ontology/ and shapes/ at a git revision). Exit status: `lint` 1 on an error, `witnesses` 1 when a pathway is unreachable,
otherwise 0; 2 for a version or file that cannot be read.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Optional

import typer

if TYPE_CHECKING:
    from reasoner.flow.engine import Reasoner

EXIT_FINDINGS, EXIT_INPUT = 1, 2


class Output(str, Enum):
    text = "text"
    json = "json"


VersionsDir = Annotated[Optional[Path], typer.Option("--versions-dir", help="folder of version manifests "
                                                      "(default: the shipped versions/)")]


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code=EXIT_INPUT)


def _factory(version: str | None, versions_dir: Path | None) -> Callable[[tuple[Path, ...]], "Reasoner"]:
    """Engines for one version, one per set of extra KB files (test cases may bring a label change)."""
    from reasoner.flow.engine import Reasoner, default_reasoner
    from reasoner.policy.versions import resolve, unsupported
    from reasoner.shacl.shape import UnsupportedShape

    spec = None if version is None else resolve(version, versions_dir)
    cache: dict[tuple[Path, ...], Reasoner] = {}

    def get(extra: tuple[Path, ...] = ()) -> Reasoner:
        if extra not in cache:
            if spec is None and not extra:
                cache[extra] = default_reasoner()
            else:
                try:
                    cache[extra] = Reasoner(extra_kb=extra, version=spec)
                except UnsupportedShape as exc:  # a version the engine cannot run: name its file
                    if spec is None:
                        raise
                    raise unsupported(spec, exc) from None
        return cache[extra]

    return get


def _checkout_cases() -> Path | None:
    from reasoner.policy.resources import data_dir

    cases = data_dir("ontology").parent / "tests" / "cases"
    return cases if cases.is_dir() else None


def _echo(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _print_changes(changes, old: str, new: str) -> None:
    _echo(f"Changes from {old} to {new}: {len(changes)}")
    for c in changes:
        _echo(f"  {c.kind:8} {c.key}")
        for d in c.details:
            _echo(f"             {d}")


def _print_impact(impacts, errors: dict[str, str], count: int) -> None:
    moved = [i for i in impacts if i.decision_changed]
    _echo(f"Impact: {count} requests evaluated under both versions; {len(moved)} decisions change")
    for i in moved:
        _echo(f"  {i.source}: {i.old_decision} -> {i.new_decision}  ({'; '.join(i.responsible)})")
    for i in impacts:
        if not i.decision_changed:
            _echo(f"  {i.source}: {i.old_decision} either way; pathways {i.old_pathways} -> {i.new_pathways}")
    for source, error in errors.items():
        _echo(f"  {source}: not evaluated: {error}")


def _print_witnesses(ws) -> None:
    from reasoner.authoring.witness import shown

    reachable = sum(w.reachable for w in ws)
    _echo(f"Witnesses: {reachable}/{len(ws)} pathways reachable")
    for w in ws:
        if w.reachable:
            _echo(f"  {w.pathway:12} reachable: {w.decision} via {', '.join(w.pathways)}")
        else:
            _echo(f"  {w.pathway:12} UNREACHABLE: still failing {', '.join(w.remaining)}")
        if w.twin is not None:
            t = w.twin
            _echo(f"  {'':12} twin: {t.field} {shown(t.before)} -> {shown(t.after)}: {t.decision}, "
                  f"fails {', '.join(t.failed)}")


def register(app: typer.Typer) -> None:
    """Add the authoring-review commands to the `blincyto` command line."""

    @app.command()
    def review(
        policy_text: Annotated[Optional[Path], typer.Option("--policy-text", help="the policy document (text); "
                               "default: ../shared/policy/<policy id>*.txt beside the checkout")] = None,
        version: Annotated[Optional[str], typer.Option(help="version to review (default: the shipped graphs)")] = None,
        versions_dir: VersionsDir = None,
        compare: Annotated[Optional[str], typer.Option(help="older version (e.g. 2024-08, git:HEAD): show the changes and their impact")] = None,
        requests: Annotated[Optional[Path], typer.Option(help="requests for the impact (default: the test cases)")] = None,
        cases: Annotated[Optional[Path], typer.Option(help="test-case folder (default: tests/cases)")] = None,
        witnesses: Annotated[bool, typer.Option(help="build a witness per pathway")] = True,
        lint: Annotated[bool, typer.Option(help="lint the version's graphs")] = True,
        hermit: Annotated[bool, typer.Option(help="lint: run HermiT (Java)")] = True,
        shacl_shacl: Annotated[bool, typer.Option("--shacl-shacl/--no-shacl-shacl",
                                                  help="lint: check the shapes against SHACL-SHACL")] = True,
        request_date: Annotated[Optional[str], typer.Option(help="witnesses: request date (default today)")] = None,
        html: Annotated[Optional[Path], typer.Option(help="also write the review as one HTML page")] = None,
    ) -> None:
        """The criteria tree beside the policy text, with flags, coverage, witnesses, lint, diff and impact."""
        from reasoner.authoring.coverage import coverage_rows, evaluate_cases
        from reasoner.authoring.diff import diff, impact, load_requests
        from reasoner.authoring.html import Page, page
        from reasoner.authoring.lint import lint as run_lint
        from reasoner.authoring.review import default_policy_text, render
        from reasoner.policy.versions import VersionError
        from reasoner.authoring.witness import find_witnesses

        try:
            engines = _factory(version, versions_dir)
            kb = engines().kb
            text_path = policy_text or default_policy_text(kb)
            text = text_path.read_text(encoding="utf-8") if text_path is not None else None
            when = date.fromisoformat(request_date) if request_date else None
        except (VersionError, OSError, ValueError) as exc:
            raise _fail(str(exc)) from exc
        rendering = render(kb, text, str(text_path or ""))
        p = Page(f"{rendering.policy} authoring review: version {version or 'shipped'}", rendering)
        if text is None:
            p.notes.append("No policy text given (--policy-text): the outline is not matched to a document.")
        _echo(f"{rendering.policy} version {rendering.version} ({version or 'shipped graphs'}); "
              f"policy text: {text_path or '(none)'}")
        for row in rendering.rows:
            where = f"line {row.line} {row.match}" if row.line else row.match
            head = " ".join(x for x in (row.number, row.combination, "[pathway]" if row.pathway else "") if x)
            _echo(f"{'  ' * row.depth}{head}  [{where}]  {row.shape}")
            _echo(f"{'  ' * row.depth}    policy:  {row.sentence}")
            if row.message:
                _echo(f"{'  ' * row.depth}    message: {row.message}")
            if row.checks:
                _echo(f"{'  ' * row.depth}    checks:  {row.checks}")
        _echo(f"\nFlags: {len(rendering.flags)}")
        for f in rendering.flags:
            _echo(f"  {f.kind:10} {f.number}" + (f" (line {f.line})" if f.line else "") + f": {f.detail}")

        cases_dir = cases or _checkout_cases()
        if cases_dir is not None:
            cov = evaluate_cases(cases_dir, engines)
            p.coverage, p.cases, p.case_errors = coverage_rows(kb, cov), len(cov.cases), cov.errors
            _echo(f"\nCoverage: {len(cov.cases)} cases in {cases_dir}")
            for row in p.coverage:
                c = row["counts"]
                extra = (f"  passing {len(row['passing'])}, failing {len(row['failing'])}" if row["pathway"] else "")
                gaps = f"  no case shows: {', '.join(row['gaps'])}" if row["gaps"] else ""
                _echo(f"  {row['criterion']:12} met {c['met']:3}  not-met {c['not-met']:3}  "
                      f"missing {c['missing']:3}{extra}{gaps}")
        if witnesses:
            p.witnesses = find_witnesses(engines(), when)
            _echo()
            _print_witnesses(p.witnesses)
        if lint:
            p.lint = run_lint(version, versions_dir, hermit=hermit, shacl_shacl=shacl_shacl)
            _echo(f"\nLint: {sum(f.level == 'error' for f in p.lint)} errors")
            for f in p.lint:
                _echo("  " + f.line())
        if compare is not None:
            try:
                old = _factory(compare, versions_dir)
                p.compared, p.changes = compare, diff(old().kb, kb)
                source = requests or cases_dir
                if source is not None:
                    p.impacts, errors, p.impact_count = impact(load_requests(source), old, engines)
            except (OSError, ValueError) as exc:
                raise _fail(str(exc)) from exc
            _echo()
            _print_changes(p.changes, compare, version or "shipped")
            if p.impacts is not None:
                _echo()
                _print_impact(p.impacts, errors, p.impact_count)
        if html is not None:
            html.write_text(page(p), encoding="utf-8")
            _echo(f"\nHTML review written to {html}")

    @app.command("lint")
    def lint_command(
        version: Annotated[Optional[str], typer.Option(help="version to lint (default: the shipped graphs)")] = None,
        versions_dir: VersionsDir = None,
        hermit: Annotated[bool, typer.Option(help="check consistency with HermiT (needs Java)")] = True,
        shacl_shacl: Annotated[bool, typer.Option("--shacl-shacl/--no-shacl-shacl",
                                                  help="check the shapes against SHACL-SHACL")] = True,
    ) -> None:
        """Check the shapes and the ontology; exit 1 when there is an error."""
        from reasoner.authoring.lint import lint
        from reasoner.policy.versions import VersionError

        try:
            found = lint(version, versions_dir, hermit=hermit, shacl_shacl=shacl_shacl)
        except (VersionError, OSError) as exc:
            raise _fail(str(exc)) from exc
        for f in found:
            _echo(f.line())
        errors = sum(f.level == "error" for f in found)
        _echo(f"lint: {errors} errors, {sum(f.level == 'warning' for f in found)} warnings, "
              f"{sum(f.level == 'info' for f in found)} notes")
        if errors:
            raise typer.Exit(code=EXIT_FINDINGS)

    @app.command("witnesses")
    def witnesses_command(
        version: Annotated[Optional[str], typer.Option(help="version (default: the shipped graphs)")] = None,
        versions_dir: VersionsDir = None,
        request_date: Annotated[Optional[str], typer.Option(help="request date (default today)")] = None,
        output: Annotated[Output, typer.Option("--format", help="text, or json with the requests")] = Output.text,
    ) -> None:
        """For every pathway, a request that satisfies it and a twin that fails it only there."""
        from reasoner.policy.versions import VersionError
        from reasoner.authoring.witness import find_witnesses

        try:
            ws = find_witnesses(_factory(version, versions_dir)(),
                                date.fromisoformat(request_date) if request_date else None)
        except (VersionError, ValueError) as exc:
            raise _fail(str(exc)) from exc
        if output is Output.json:
            _echo(json.dumps([asdict(w) for w in ws], indent=2, ensure_ascii=False, default=str))
        else:
            _print_witnesses(ws)
        if not all(w.reachable for w in ws):
            raise typer.Exit(code=EXIT_FINDINGS)

    @app.command("diff")
    def diff_command(
        old: Annotated[str, typer.Argument(help="older version")],
        new: Annotated[str, typer.Argument(help="newer version")],
        versions_dir: VersionsDir = None,
        output: Annotated[Output, typer.Option("--format")] = Output.text,
    ) -> None:
        """Criteria added, removed and changed (constraints, messages, sentences, tree), by number."""
        from reasoner.authoring.diff import diff
        from reasoner.policy.versions import VersionError

        try:
            changes = diff(_factory(old, versions_dir)().kb, _factory(new, versions_dir)().kb)
        except (VersionError, OSError) as exc:
            raise _fail(str(exc)) from exc
        if output is Output.json:
            _echo(json.dumps([asdict(c) for c in changes], indent=2, ensure_ascii=False))
        else:
            _print_changes(changes, old, new)

    @app.command("impact")
    def impact_command(
        old: Annotated[str, typer.Argument(help="older version")],
        new: Annotated[str, typer.Argument(help="newer version")],
        requests: Annotated[Path, typer.Option(help="a request or case file, a JSON list, JSON lines, a folder of them, or a store folder (blincyto store)")],
        versions_dir: VersionsDir = None,
        output: Annotated[Output, typer.Option("--format")] = Output.text,
    ) -> None:
        """Every request whose decision would change, old and new decision, and the criterion responsible."""
        from reasoner.authoring.diff import impact, load_requests
        from reasoner.policy.versions import VersionError

        try:
            impacts, errors, count = impact(load_requests(requests), _factory(old, versions_dir),
                                            _factory(new, versions_dir))
        except (VersionError, OSError, ValueError) as exc:
            raise _fail(str(exc)) from exc
        if output is Output.json:
            _echo(json.dumps({"evaluated": count, "errors": errors,
                              "changed": [{**asdict(i), "decision_changed": i.decision_changed} for i in impacts]},
                             indent=2, ensure_ascii=False))
        else:
            _print_impact(impacts, errors, count)
