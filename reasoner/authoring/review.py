"""The authoring review: the criteria tree read from the graph, set beside the policy text.

Each criterion is rendered as the policy's outline shows it (its number, "must meet all" / "one of",
the policy's sentence, the shape's message and what the shape checks) and matched to the numbered
line of the text with the same number. Flags: a numbered line no criterion encodes, a criterion no
line holds, a criterion whose words differ from its line, one whose words sit under another number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from reasoner.policy.kb import Criterion, KnowledgeBase
from reasoner.authoring.outline import LETTER, TextItem, criteria_items, normalize, number_key, parse_outline
from reasoner.policy.resources import data_dir
from reasoner.authoring.shapetext import describe, qname

COMBINATION = {"all": "must meet all", "any": "one of"}
_LEADING_MARKER = re.compile(r"^[A-Za-z0-9]{1,4}\.\s+")

# Flag kinds, most serious first.
NO_SHAPE, NO_LINE, DIFFERS, RENUMBERED = "no-shape", "no-line", "differs", "renumbered"


@dataclass
class Row:
    """One criterion of the outline, with its line of the policy text."""

    number: str
    depth: int
    combination: str  # "must meet all" | "one of" | ""
    pathway: bool
    sentence: str
    shape: str  # qname, or ""
    message: str
    open_message: str
    checks: str  # what the shape checks, in one line
    match: str  # "same" | DIFFERS | RENUMBERED | NO_LINE
    line: int | None = None
    text: str = ""
    text_number: str = ""


@dataclass
class Flag:
    kind: str
    number: str
    line: int | None
    detail: str


@dataclass
class Rendering:
    policy: str
    version: str
    text_path: str
    rows: list[Row]
    flags: list[Flag] = field(default_factory=list)


def _policy_folder() -> Path:
    return data_dir("ontology").parent.parent / "shared" / "policy"


def default_policy_text(kb: KnowledgeBase) -> Path | None:
    """`../shared/policy/<policy id>*.txt` beside the checkout, when it is there."""
    folder = _policy_folder()
    for ident in kb.policies:
        found = sorted(folder.glob(f"{ident}*.txt")) if folder.is_dir() else []
        if found:
            return found[0]
    return None


def policy_text_searched(kb: KnowledgeBase) -> str:
    """Where default_policy_text looked, in words: for the message when it found nothing."""
    return "looked for " + " and ".join(str(_policy_folder() / f"{ident}*.txt") for ident in sorted(kb.policies))


def fragments(sentence: str) -> list[str]:
    """The parts of a quoted sentence (the graph elides with "..."), without a leading outline marker."""
    parts = [normalize(p) for p in sentence.split("...")]
    return [_LEADING_MARKER.sub("", p, count=1) if i == 0 else p for i, p in enumerate(parts) if p]


def _holds(item: TextItem, parts: list[str]) -> bool:
    text = normalize(" ".join([item.text, *item.notes]))
    return bool(parts) and all(p in text for p in parts)


def ordered_criteria(kb: KnowledgeBase) -> list[tuple[Criterion, int]]:
    """Every criterion in outline order with its depth: each root's tree, then the rest by number."""
    roots = sorted((c for c in kb.criteria.values() if c.applies_to is not None), key=lambda c: number_key(c.number))
    out: list[tuple[Criterion, int]] = []
    seen: set = set()

    def walk(c: Criterion, depth: int) -> None:
        if c.iri in seen:
            return
        seen.add(c.iri)
        out.append((c, depth))
        for child in c.children:
            walk(kb.criteria[child], depth + 1)

    for root in roots:
        walk(root, 0)
    for c in sorted(kb.criteria.values(), key=lambda c: number_key(c.number)):
        walk(c, 0)
    return out


def render(kb: KnowledgeBase, text: str | None, text_path: str = "") -> Rendering:
    """The outline rows and the flags from matching them to the text (no text: no matching)."""
    items = criteria_items(parse_outline(text)) if text else []
    by_number = {i.number: i for i in items}
    claimed: set[str] = set()
    rows: list[Row] = []
    flags: list[Flag] = []
    for c, depth in ordered_criteria(kb):
        info = kb.shape_info.get(c.shape) if c.shape is not None else None
        open_info = kb.shape_info.get(c.open_shape) if c.open_shape is not None else None
        row = Row(c.number, depth, COMBINATION.get(c.combination or "", ""), c.is_pathway,
                  c.sentence or (info.sentence if info else ""), qname(c.shape) if c.shape else "",
                  info.message if info else "", open_info.message if open_info else "",
                  describe(kb.shapes, c.shape) if c.shape is not None else "", NO_LINE)
        if text:
            _match(row, fragments(row.sentence), by_number, items, claimed, flags)
        rows.append(row)
    for item in items:
        if item.number not in claimed and item.level >= LETTER:
            flags.append(Flag(NO_SHAPE, item.number, item.line,
                              f"numbered line with no criterion or shape: {item.text!r}"))
    order = {NO_SHAPE: 0, NO_LINE: 1, DIFFERS: 2, RENUMBERED: 3}
    flags.sort(key=lambda f: (order[f.kind], f.line or 0))
    policy = next(iter(kb.policies.values()), None)
    return Rendering(policy.identifier if policy else "", policy.version_label if policy else "",
                     text_path, rows, flags)


def _match(row: Row, parts: list[str], by_number: dict[str, TextItem], items: list[TextItem],
           claimed: set[str], flags: list[Flag]) -> None:
    item = by_number.get(row.number)
    found: TextItem | None = item if item is not None and _holds(item, parts) else None
    if found is None:
        # The words elsewhere: under the same number's own parts first, then anywhere unclaimed.
        pool = list(item.walk()) if item is not None else []
        pool += [i for i in items if i.number not in claimed]
        found = next((i for i in pool if i.number not in claimed and _holds(i, parts)), None)
    if found is not None:
        claimed.add(found.number)
        row.line, row.text, row.text_number = found.line, found.text, found.number
        if found.number == row.number:
            row.match = "same"
        else:
            row.match = RENUMBERED
            flags.append(Flag(RENUMBERED, row.number, found.line,
                              f"criterion {row.number} encodes the text's {found.number}"))
        if item is not None and found is not item:
            claimed.add(item.number)
        return
    if item is not None:
        claimed.add(item.number)
        row.match, row.line, row.text, row.text_number = DIFFERS, item.line, item.text, item.number
        flags.append(Flag(DIFFERS, row.number, item.line,
                          f"the graph says {row.sentence!r}; the text says {item.text!r}"))
        return
    flags.append(Flag(NO_LINE, row.number, None,
                      f"criterion {row.number}" + (f" ({row.shape})" if row.shape else "")
                      + " has no numbered line in the text"))

