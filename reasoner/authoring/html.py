"""The authoring review as one self-contained HTML page: inline CSS, no script, no external asset.

Readable on a laptop (the graph's outline and the policy text side by side) and printable
(@media print drops the navigation and keeps table rows whole). Sections carry stable ids
(outline, flags, coverage, witnesses, lint, diff, impact) so tests and links can find them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import Any

from reasoner.authoring.diff import Change, Impact
from reasoner.authoring.lint import LintFinding
from reasoner.authoring.review import Rendering
from reasoner.authoring.witness import Witness, shown

CSS = """
:root { --ink:#1d232a; --muted:#5b6672; --line:#d8dee4; --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e;
        --info:#0969da; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1400px; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin: .2rem 0; } h2 { font-size: 1.2rem; margin: 2rem 0 .5rem;
     border-bottom: 2px solid var(--line); padding-bottom: .2rem; }
.meta { color: var(--muted); margin: 0 0 .6rem; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: .4rem 0;
      z-index: 1; }
nav a { margin-right: 1rem; color: var(--info); text-decoration: none; }
.chips span, .chip { display: inline-block; border-radius: 999px; padding: 0 .55rem; margin: 0 .3rem .2rem 0;
        font-size: .8rem; border: 1px solid var(--line); background: var(--bg); white-space: nowrap; }
.ok { color: var(--ok); border-color: var(--ok) !important; } .warn { color: var(--warn); border-color: var(--warn) !important; }
.bad { color: var(--bad); border-color: var(--bad) !important; } .info { color: var(--info); border-color: var(--info) !important; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: .35rem .5rem; vertical-align: top; text-align: left; }
th { background: var(--bg); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.number { font-weight: 600; white-space: nowrap; }
.sentence { font-style: italic; }
.message { color: var(--muted); }
code, .checks, pre { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.checks { color: #3d4652; display: block; margin-top: .2rem; }
.text { font-family: Georgia, "Times New Roman", serif; }
.lineno { color: var(--muted); font-size: .8rem; }
tr.differs td, tr.no-line td { background: #fff8c5; } tr.renumbered td { background: #ddf4ff; }
details summary { cursor: pointer; color: var(--info); }
pre { background: var(--bg); padding: .5rem; overflow-x: auto; margin: .3rem 0; }
ul.details { margin: .2rem 0; padding-left: 1.2rem; }
.empty { color: var(--ok); }
@media (max-width: 900px) { .side-by-side td { display: block; width: 100%; } }
@media print {
  nav { display: none; } body { max-width: none; padding: 0; font-size: 10.5pt; }
  h2 { break-after: avoid; } tr, li { break-inside: avoid; }
  a { color: inherit; text-decoration: none; } details > summary { color: inherit; }
  tr.differs td, tr.no-line td, tr.renumbered td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


@dataclass
class Page:
    """Everything the page shows; sections that were not computed stay None and are left out."""

    title: str
    rendering: Rendering
    coverage: list[dict[str, Any]] | None = None
    cases: int = 0
    case_errors: dict[str, str] = field(default_factory=dict)
    witnesses: list[Witness] | None = None
    lint: list[LintFinding] | None = None
    compared: str = ""
    changes: list[Change] | None = None
    impacts: list[Impact] | None = None
    impact_count: int = 0
    notes: list[str] = field(default_factory=list)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _chip(text: str, cls: str = "") -> str:
    return f'<span class="chip {cls}">{_e(text)}</span>'


def _names(names: list[str]) -> str:
    if not names:
        return "—"
    return f"<details><summary>{len(names)}</summary>{'<br>'.join(_e(n) for n in names)}</details>"


def _outline(r: Rendering) -> str:
    rows = []
    labels = {"same": ("line matches", "ok"), "differs": ("words differ", "warn"),
              "renumbered": ("other number", "info"), "no-line": ("no line", "bad")}
    for row in r.rows:
        badges = "".join(_chip(b) for b in (row.combination, "pathway" if row.pathway else "") if b)
        label, cls = labels[row.match]
        graph = (f'<div style="padding-left:{row.depth * 1.2}rem"><span class="number">{_e(row.number)}</span> '
                 f'{badges}<div class="sentence">{_e(row.sentence)}</div>')
        if row.message:
            graph += f'<div class="message">{_e(row.message)}</div>'
        if row.checks:
            graph += f'<span class="checks">{_e(row.shape)}: {_e(row.checks)}</span>'
        graph += "</div>"
        text = (f'<span class="lineno">line {row.line} · {_e(row.text_number)}</span> {_chip(label, cls)}'
                f'<div class="text">{_e(row.text)}</div>') if row.line else _chip(label, cls)
        rows.append(f'<tr class="{_e(row.match)}" id="c-{_e(row.number)}"><td>{graph}</td><td>{text}</td></tr>')
    return ('<table class="side-by-side"><thead><tr><th style="width:55%">Criteria tree (from the graph)</th>'
            f'<th>Policy text ({_e(r.text_path or "not given")})</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _flags(r: Rendering) -> str:
    if not r.flags:
        return '<p class="empty">Every numbered line has a criterion and every criterion a line.</p>'
    cls = {"no-shape": "bad", "no-line": "bad", "differs": "warn", "renumbered": "info"}
    items = "".join(f'<li>{_chip(f.kind, cls[f.kind])} <span class="number">{_e(f.number)}</span>'
                    + (f' <span class="lineno">line {f.line}</span>' if f.line else "") + f" {_e(f.detail)}</li>"
                    for f in r.flags)
    return f'<ul class="flags">{items}</ul>'


def _coverage(rows: list[dict[str, Any]], cases: int, errors: dict[str, str]) -> str:
    body = []
    for row in rows:
        gaps = " ".join(_chip(g, "warn") for g in row["gaps"]) or _chip("all shown", "ok")
        c = row["counts"]
        body.append(
            f'<tr><td class="number">{_e(row["criterion"])}{" " + _chip("pathway") if row["pathway"] else ""}</td>'
            f'<td class="num">{c["met"]}</td><td class="num">{c["not-met"]}</td><td class="num">{c["missing"]}</td>'
            f'<td>{gaps}</td><td>{_names(row["passing"]) if row["pathway"] else ""}</td>'
            f'<td>{_names(row["failing"]) if row["pathway"] else ""}</td></tr>')
    err = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in errors.items())
    return (f'<p class="meta">{_n(cases, "case")} evaluated against this version. A pathway\'s failing cases are those '
            'where it fails and is the closest pathway or the case is tagged with it.</p>'
            '<table id="coverage-table"><thead><tr><th>Criterion</th><th>met</th><th>not met</th><th>missing</th>'
            '<th>Outcomes no case shows</th><th>Passing cases</th><th>Failing cases</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>' + (f"<p>Not evaluated:</p><ul>{err}</ul>" if err else ""))


def _witnesses(ws: list[Witness]) -> str:
    body = []
    for w in ws:
        status = _chip("reachable", "ok") if w.reachable else _chip("unreachable", "bad")
        twin = "—"
        if w.twin is not None:
            t = w.twin
            twin = (f"<code>{_e(t.field)}</code>: {_e(shown(t.before))} → {_e(shown(t.after))}<br>"
                    f"decision {_e(t.decision)}; fails {_e(', '.join(t.failed))}")
        elif w.remaining:
            twin = "still failing: " + _e(", ".join(w.remaining))
        request = _e(json.dumps(w.request, indent=1, ensure_ascii=False))
        body.append(f'<tr><td class="number">{_e(w.pathway)}</td><td>{status}</td>'
                    f'<td>{_e(w.decision)} ({_e(", ".join(w.pathways) or "no pathway")})'
                    f'<details><summary>request</summary><pre>{request}</pre></details></td><td>{twin}</td></tr>')
    return ('<p class="meta">Requests built by search from the shapes and the ontology, evaluated by the engine.</p>'
            '<table id="witness-table"><thead><tr><th>Pathway</th><th>Status</th><th>Witness: decision'
            ' (pathways)</th><th>Failing twin: one field changed</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _lint(found: list[LintFinding]) -> str:
    if not found:
        return '<p class="empty">No findings.</p>'
    cls = {"error": "bad", "warning": "warn", "info": "info"}
    body = "".join(f'<tr><td>{_chip(f.level, cls[f.level])}</td><td>{_e(f.check)}</td><td><code>{_e(f.file)}</code></td>'
                   f'<td><code>{_e(f.term)}</code></td><td>{_e(f.message)}</td></tr>' for f in found)
    return ('<table id="lint-table"><thead><tr><th>Level</th><th>Check</th><th>File</th><th>Term</th><th>Finding</th>'
            f'</tr></thead><tbody>{body}</tbody></table>')


def _diff(changes: list[Change], compared: str) -> str:
    if not changes:
        return f'<p class="empty">No difference from {_e(compared)}.</p>'
    cls = {"added": "ok", "removed": "bad", "changed": "warn"}
    items = "".join(f'<li>{_chip(c.kind, cls[c.kind])} <span class="number">{_e(c.key)}</span>'
                    f'<ul class="details">{"".join(f"<li><code>{_e(d)}</code></li>" for d in c.details)}</ul></li>'
                    for c in changes)
    return f'<p class="meta">Compared with {_e(compared)}, by criterion number.</p><ul id="diff-list">{items}</ul>'


def _impact(impacts: list[Impact], count: int) -> str:
    moved = [i for i in impacts if i.decision_changed]
    body = "".join(f'<tr><td>{_e(i.source)}</td><td>{_e(i.old_decision)} → <strong>{_e(i.new_decision)}</strong></td>'
                   f'<td>{_e(", ".join(i.responsible))}</td></tr>' for i in moved)
    same = len(impacts) - len(moved)
    return (f'<p class="meta">{_n(count, "request")} evaluated under both versions; {_n(len(moved), "decision")} '
            f'{"changes" if len(moved) == 1 else "change"}'
            + (f"; {same} keep their decision with other pathways" if same else "") + ".</p>"
            + ('<table id="impact-table"><thead><tr><th>Request</th><th>Decision</th><th>Criterion responsible</th>'
               f'</tr></thead><tbody>{body}</tbody></table>' if moved else ""))


def _n(count: int, noun: str) -> str:
    """A count and its noun, singular for one ("1 case", "2 cases")."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def page(p: Page) -> str:
    r = p.rendering
    sections = [("outline", "Outline beside the policy text", _outline(r)), ("flags", "Flags", _flags(r))]
    if p.coverage is not None:
        sections.append(("coverage", "Test-case coverage", _coverage(p.coverage, p.cases, p.case_errors)))
    if p.witnesses is not None:
        sections.append(("witnesses", "Witnesses", _witnesses(p.witnesses)))
    if p.lint is not None:
        sections.append(("lint", "Lint", _lint(p.lint)))
    if p.changes is not None:
        sections.append(("diff", "Changes", _diff(p.changes, p.compared)))
    if p.impacts is not None:
        sections.append(("impact", "Impact on requests", _impact(p.impacts, p.impact_count)))
    chips = [_chip(_n(len(r.flags), "flag"), "warn" if r.flags else "ok")]
    if p.lint is not None:
        errors = sum(f.level == "error" for f in p.lint)
        chips.append(_chip(f"lint: {_n(errors, 'error')}, {_n(sum(f.level == 'warning' for f in p.lint), 'warning')}",
                           "bad" if errors else "ok"))
    if p.witnesses is not None:
        unreachable = [w.pathway for w in p.witnesses if not w.reachable]
        chips.append(_chip(f"{len(p.witnesses) - len(unreachable)}/{_n(len(p.witnesses), 'pathway')} reachable",
                           "bad" if unreachable else "ok"))
    if p.changes is not None:
        chips.append(_chip(_n(len(p.changes), "change"), "info"))
    if p.impacts is not None:
        moves = sum(i.decision_changed for i in p.impacts)
        chips.append(_chip(f"{_n(moves, 'decision')} {'moves' if moves == 1 else 'move'}", "warn"))
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{html}</section>' for sid, title, html in sections)
    notes = "".join(f'<p class="meta">{_e(n)}</p>' for n in p.notes)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(p.title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{_e(p.title)}</h1><p class=\"meta\">Policy {_e(r.policy)}, version {_e(r.version)} · "
            f"generated {stamp}</p>{notes}<div class=\"chips\" id=\"summary\">{''.join(chips)}</div></header>"
            f"<nav>{nav}</nav><main>{body}</main></body></html>\n")
