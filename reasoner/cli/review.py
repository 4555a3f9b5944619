"""Commands for policy authors: `review`, `lint`, `witnesses`, `diff`, `impact` (see docs in README).

    blincyto review [--policy-text PATH] [--version V] [--compare OLD] [--requests PATH] [--html FILE]
    blincyto lint [--version V] [--versions-dir DIR] [--no-hermit]
    blincyto witnesses [--version V] [--request-date DATE] [--format text|json]
    blincyto diff OLD NEW [--versions-dir DIR] [--format text|json]
    blincyto impact OLD NEW --requests FILE_OR_DIR_OR_STORE [--versions-dir DIR] [--format text|json]

A version is an identifier under versions/ ("2024-08", "draft-2025", "current"), a manifest, a
folder holding one, or git:REV (the checkout's ontology/ and shapes/ at a git revision).
Exit status: `lint` 1 on an error, `witnesses` 1 when a pathway is unreachable, `review` 1 when
no policy text was found, `impact` 1 when a request could not be evaluated (reported, skipped);
otherwise 0; 2 for a version, an option or a file that cannot be read.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from reasoner.cli.exits import Exit
from reasoner.cli.table import Command, arg, opt
from reasoner.cli.words import plural

if TYPE_CHECKING:
    from reasoner.flow.engine import Reasoner

EXIT_FINDINGS, EXIT_INPUT = 1, 2


class Output(str, Enum):
    text = "text"
    json = "json"


VERSIONS_DIR = opt("versions_dir", "--versions-dir", type="path",
                   help="folder of version manifests (default: the shipped versions/)")


def _fail(message: str) -> Exit:
    sys.stderr.write(f"error: {message}\n")
    return Exit(EXIT_INPUT)


def _request_date(value: str | None) -> date | None:
    """`--request-date`: a calendar date, or the error names the option (not Python's words)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail("--request-date: not a calendar date (YYYY-MM-DD)") from None


def _factory(version: str | None, versions_dir: Path | None) -> Callable[[tuple[Path, ...]], "Reasoner"]:
    """Engines for one version, one per set of extra KB files (test cases may bring a label change)."""
    from reasoner.flow.engine import Reasoner, default_reasoner
    from reasoner.policy.integrity import PolicyError
    from reasoner.policy.versions import VersionError, resolve

    spec = None if version is None else resolve(version, versions_dir)
    cache: dict[tuple[Path, ...], Reasoner] = {}

    def get(extra: tuple[Path, ...] = ()) -> Reasoner:
        if extra not in cache:
            if spec is None and not extra:
                cache[extra] = default_reasoner()
            else:
                try:
                    cache[extra] = Reasoner(extra_kb=extra, version=spec)
                except PolicyError as exc:  # a version that does not load: a bad input (it names its file)
                    if spec is None:
                        raise
                    raise VersionError(str(exc)) from None
        return cache[extra]

    return get


def _checkout_cases() -> Path | None:
    from reasoner.policy.resources import data_dir

    cases = data_dir("ontology").parent / "tests" / "cases"
    return cases if cases.is_dir() else None


def _echo(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _print_changes(changes, old: str, new: str) -> None:
    _echo(f"Changes from {old} to {new}: {plural(len(changes), 'change')}")
    for c in changes:
        _echo(f"  {c.kind:8} {c.key}")
        for d in c.details:
            _echo(f"             {d}")


def _print_impact(impacts, errors: dict[str, str], count: int) -> None:
    moved = [i for i in impacts if i.decision_changed]
    _echo(f"Impact: {plural(count, 'request')} evaluated under both versions; "
          f"{plural(len(moved), 'decision')} {'changes' if len(moved) == 1 else 'change'}"
          + (f"; {plural(len(errors), 'request')} not evaluated" if errors else ""))
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
    _echo(f"Witnesses: {reachable}/{plural(len(ws), 'pathway')} reachable")
    for w in ws:
        if w.reachable:
            _echo(f"  {w.pathway:12} reachable: {w.decision} via {', '.join(w.pathways)}")
        else:
            _echo(f"  {w.pathway:12} UNREACHABLE: still failing {', '.join(w.remaining)}")
        if w.twin is not None:
            t = w.twin
            _echo(f"  {'':12} twin: {t.field} {shown(t.before)} -> {shown(t.after)}: {t.decision}, "
                  f"fails {', '.join(t.failed)}")


COMMANDS = (
    Command(("review",), "The criteria tree beside the policy text, with flags, coverage, witnesses, lint, diff and "
            "impact.", (
                opt("policy_text", "--policy-text", type="path", help="the policy document (text); "
                    "default: ../shared/policy/<policy id>*.txt beside the checkout"),
                opt("version", help="version to review (default: the shipped graphs)"),
                VERSIONS_DIR,
                opt("compare", help="older version (e.g. 2024-08, git:HEAD): show the changes and their impact"),
                opt("requests", type="path", help="requests for the impact (default: the test cases)"),
                opt("cases", type="path", help="test-case folder (default: tests/cases)"),
                opt("witnesses", type="bool", default=True, off="--no-witnesses", help="build a witness per pathway"),
                opt("lint", type="bool", default=True, off="--no-lint", help="lint the version's graphs"),
                opt("hermit", type="bool", default=True, off="--no-hermit", help="lint: run HermiT (Java)"),
                opt("shacl_shacl", type="bool", default=True, off="--no-shacl-shacl",
                    help="lint: check the shapes against SHACL-SHACL"),
                opt("request_date", help="witnesses: request date (default today)"),
                opt("html", type="path", help="also write the review as one HTML page"),
            ), "reasoner.cli.review:review"),
    Command(("lint",), "Check the shapes and the ontology; exit 1 when there is an error.", (
        opt("version", help="version to lint (default: the shipped graphs)"),
        VERSIONS_DIR,
        opt("hermit", type="bool", default=True, off="--no-hermit", help="check consistency with HermiT (needs Java)"),
        opt("shacl_shacl", type="bool", default=True, off="--no-shacl-shacl",
            help="check the shapes against SHACL-SHACL"),
    ), "reasoner.cli.review:lint_command"),
    Command(("witnesses",), "For every pathway, a request that satisfies it and a twin that fails it only there.", (
        opt("version", help="version (default: the shipped graphs)"),
        VERSIONS_DIR,
        opt("request_date", help="request date (default today)"),
        opt("output", "--format", metavar="text|json", choices=Output, default=Output.text.value, help="text, or json with the requests"),
    ), "reasoner.cli.review:witnesses_command"),
    Command(("diff",), "Criteria added, removed and changed (constraints, messages, sentences, tree), by number.", (
        arg("old", required=True, help="older version"),
        arg("new", required=True, help="newer version"),
        VERSIONS_DIR,
        opt("output", "--format", metavar="text|json", choices=Output, default=Output.text.value),
    ), "reasoner.cli.review:diff_command"),
    Command(("impact",), "Every request whose decision would change, old and new decision, and the criterion "
            "responsible.", (
                arg("old", required=True, help="older version"),
                arg("new", required=True, help="newer version"),
                opt("requests", type="path", required=True, help="a request or case file, a JSON list, JSON lines, "
                    "a folder of them, or a store folder (blincyto store)"),
                VERSIONS_DIR,
                opt("output", "--format", metavar="text|json", choices=Output, default=Output.text.value),
            ), "reasoner.cli.review:impact_command"),
)


def review(policy_text: Optional[Path] = None, version: Optional[str] = None, versions_dir: Optional[Path] = None,
           compare: Optional[str] = None, requests: Optional[Path] = None, cases: Optional[Path] = None,
           witnesses: bool = True, lint: bool = True, hermit: bool = True, shacl_shacl: bool = True,
           request_date: Optional[str] = None, html: Optional[Path] = None) -> None:
    """`review`: exit 1 when no policy text was found, 2 for an input that cannot be read."""
    from reasoner.authoring.coverage import coverage_rows, evaluate_cases
    from reasoner.authoring.diff import diff, impact, load_requests
    from reasoner.authoring.html import Page, page
    from reasoner.authoring.lint import lint as run_lint
    from reasoner.authoring.review import default_policy_text, policy_text_searched, render
    from reasoner.policy.versions import VersionError
    from reasoner.authoring.witness import find_witnesses

    when = _request_date(request_date)
    if html is not None and not html.parent.is_dir():  # before the work, not after it
        raise _fail(f"--html: no folder {html.parent} to write {html.name} into")
    try:
        engines = _factory(version, versions_dir)
        kb = engines().kb
    except (VersionError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    text_path = policy_text or default_policy_text(kb)
    try:
        text = text_path.read_text(encoding="utf-8") if text_path is not None else None
    except OSError as exc:
        raise _fail(f"--policy-text: cannot read {text_path}: {exc.strerror or exc}") from None
    rendering = render(kb, text, str(text_path or ""))
    p = Page(f"{rendering.policy} authoring review: version {version or 'shipped'}", rendering)
    no_text = None
    if text is None:
        no_text = (f"no policy text found ({policy_text_searched(kb)}): the outline is not matched to the "
                   "policy's lines; pass --policy-text PATH")
        p.notes.append(no_text[0].upper() + no_text[1:] + ".")
        sys.stderr.write(f"review: {no_text}\n")
    _echo(f"{rendering.policy} version {rendering.version} ({version or 'shipped graphs'}); "
          f"policy text: {text_path or '(none found)'}")
    for row in rendering.rows:
        where = f"line {row.line} {row.match}" if row.line else row.match
        head = " ".join(x for x in (row.number, row.combination, "[pathway]" if row.pathway else "") if x)
        _echo(f"{'  ' * row.depth}{head}  [{where}]  {row.shape}")
        _echo(f"{'  ' * row.depth}    policy:  {row.sentence}")
        if row.message:
            _echo(f"{'  ' * row.depth}    message: {row.message}")
        if row.checks:
            _echo(f"{'  ' * row.depth}    checks:  {row.checks}")
    if no_text is not None:
        _echo(f"\nFlags: not checked: {no_text}")
    else:
        _echo(f"\nFlags: {len(rendering.flags)}")
    for f in rendering.flags:
        _echo(f"  {f.kind:10} {f.number}" + (f" (line {f.line})" if f.line else "") + f": {f.detail}")

    cases_dir = cases or _checkout_cases()
    if cases_dir is not None:
        cov = evaluate_cases(cases_dir, engines)
        p.coverage, p.cases, p.case_errors = coverage_rows(kb, cov), len(cov.cases), cov.errors
        _echo(f"\nCoverage: {plural(len(cov.cases), 'case')} in {cases_dir}")
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
        _echo(f"\nLint: {plural(sum(f.level == 'error' for f in p.lint), 'error')}")
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
        try:
            html.write_text(page(p), encoding="utf-8")
        except OSError as exc:
            raise _fail(f"--html: cannot write {html}: {exc.strerror or exc}") from None
        _echo(f"\nHTML review written to {html}")
    if no_text is not None:
        raise Exit(EXIT_FINDINGS)  # a review that could not check the text is not a clean one


def lint_command(version: Optional[str] = None, versions_dir: Optional[Path] = None, hermit: bool = True,
                 shacl_shacl: bool = True) -> None:
    """`lint`: the findings, exit 1 when one is an error."""
    from reasoner.authoring.lint import lint
    from reasoner.policy.versions import VersionError

    try:
        found = lint(version, versions_dir, hermit=hermit, shacl_shacl=shacl_shacl)
    except (VersionError, OSError) as exc:
        raise _fail(str(exc)) from exc
    for f in found:
        _echo(f.line())
    errors = sum(f.level == "error" for f in found)
    _echo(f"lint: {plural(errors, 'error')}, {plural(sum(f.level == 'warning' for f in found), 'warning')}, "
          f"{plural(sum(f.level == 'info' for f in found), 'note')}")
    if errors:
        raise Exit(EXIT_FINDINGS)


def witnesses_command(version: Optional[str] = None, versions_dir: Optional[Path] = None,
                      request_date: Optional[str] = None, output: Output = Output.text) -> None:
    """`witnesses`: exit 1 when a pathway is unreachable."""
    from reasoner.policy.versions import VersionError
    from reasoner.authoring.witness import find_witnesses

    when = _request_date(request_date)
    try:
        ws = find_witnesses(_factory(version, versions_dir)(), when)
    except (VersionError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if output is Output.json:
        _echo(json.dumps([asdict(w) for w in ws], indent=2, ensure_ascii=False, default=str))
    else:
        _print_witnesses(ws)
    if not all(w.reachable for w in ws):
        raise Exit(EXIT_FINDINGS)


def diff_command(old: str, new: str, versions_dir: Optional[Path] = None, output: Output = Output.text) -> None:
    """`diff`: the changes, by criterion number."""
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


def impact_command(old: str, new: str, requests: Path, versions_dir: Optional[Path] = None,
                   output: Output = Output.text) -> None:
    """`impact`: exit 1 when a request could not be evaluated."""
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
    if errors:  # as `blincyto batch`: the run went on, and the exit status says some were left out
        raise Exit(EXIT_FINDINGS)


def register(app: Any) -> None:
    """Add the authoring-review commands to the `blincyto` command line."""
    from reasoner.cli.typed import add

    for command in COMMANDS:
        add(app, command)
