"""The policy document's own outline, parsed from its text: I. / A. / 1. / a. / i. with their nesting.

The authoring review puts the criteria tree beside the text the author edits; to match the two,
the text's numbered lines are read back into numbers of the same form as the tree's identifiers
(section, capital letter, number, letter, lower-case roman, joined by dots). Nothing here knows
a criterion: the markers and their nesting are the only rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Levels of the outline, outermost first.
SECTION, LETTER, NUMBER, SUBLETTER, SUBROMAN = range(5)

_MARKER = re.compile(r"^\s*([IVXLC]+|[A-Z]|\d{1,2}|[a-z]|[ivx]+)\.\s+(\S.*)$")
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}
_FOOTNOTE = "*"


def roman_value(token: str) -> int | None:
    """Value of a roman numeral (either case), or None if the token is not one."""
    t = token.lower()
    if not t or any(ch not in _ROMAN for ch in t):
        return None
    total = 0
    for i, ch in enumerate(t):
        v = _ROMAN[ch]
        total += -v if i + 1 < len(t) and _ROMAN[t[i + 1]] > v else v
    return total


def number_key(number: str) -> tuple:
    """Outline order of a dotted number: I < II < III, A < B, 1 < 2 < 10, a < b, i < ii < iv."""
    parts = []
    for i, part in enumerate(number.split(".")):
        roman = roman_value(part) if i in (0, 4) else None
        parts.append((0, roman) if roman is not None else (0, int(part)) if part.isdigit() else (1, part))
    return tuple(parts)


@dataclass
class TextItem:
    """One numbered line of the policy text (with its wrapped continuation lines)."""

    number: str
    marker: str
    level: int
    line: int  # 1-based line number of the marker line
    text: str  # the item's own words, whitespace collapsed, without its marker
    notes: list[str] = field(default_factory=list)  # unnumbered lines that follow its children
    children: list["TextItem"] = field(default_factory=list)

    def subtree_text(self) -> str:
        parts = [self.text, *(c.subtree_text() for c in self.children), *self.notes]
        return " ".join(p for p in parts if p)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    @property
    def is_criteria_section(self) -> bool:
        """A section is a criteria section when it is outlined in lettered parts (A., B., ...)."""
        return self.level == SECTION and any(c.level == LETTER for c in self.children)


def normalize(text: str) -> str:
    """Collapse whitespace, so that wrapped lines compare equal to the sentence they hold."""
    return " ".join(text.split())


def _level_of(token: str, stack: list[TextItem], section_value: int) -> int | None:
    """Which outline level a marker token opens, given the items open above it."""
    open_levels = {item.level: item for item in stack}
    if token.isdigit():
        return NUMBER
    if token.isupper():
        value = roman_value(token)
        if value is not None and value == section_value + 1:
            return SECTION
        if len(token) == 1 and section_value:
            return LETTER
        return None
    value = roman_value(token)
    last_roman = open_levels.get(SUBROMAN)
    if value is not None and last_roman is not None and roman_value(last_roman.marker) == value - 1:
        return SUBROMAN
    last_letter = open_levels.get(SUBLETTER)
    if len(token) == 1 and last_letter is not None and ord(token) == ord(last_letter.marker) + 1:
        return SUBLETTER
    if value == 1 and last_letter is not None:
        return SUBROMAN
    if len(token) == 1:
        return SUBLETTER
    return SUBROMAN if value is not None else None


def parse_outline(text: str) -> list[TextItem]:
    """The text's sections (I., II., ...) with their numbered items, from the first section on."""
    sections: list[TextItem] = []
    stack: list[TextItem] = []
    current: TextItem | None = None  # the item whose wrapped lines we are reading
    section_value = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        match = _MARKER.match(raw)
        level = _level_of(match.group(1), stack, section_value) if match else None
        if match and level is not None and (level == SECTION or sections):
            token, words = match.group(1), match.group(2)
            while stack and stack[-1].level >= level:
                stack.pop()
            parent = stack[-1] if stack else None
            number = token if parent is None else f"{parent.number}.{token}"
            item = TextItem(number, token, level, lineno, normalize(words))
            if level == SECTION:
                section_value = roman_value(token) or section_value
                sections.append(item)
                stack = [item]
            elif parent is not None:
                parent.children.append(item)
                stack.append(item)
            current = item
            continue
        if not sections or not line:
            continue
        if current is not None and not line.startswith(_FOOTNOTE):
            current.text = normalize(f"{current.text} {line}")
            continue
        # A footnote, and what follows it up to the next numbered line (the approval duration):
        # notes of the item that encloses the last one.
        owner = stack[-2] if len(stack) >= 2 else stack[-1]
        owner.notes.append(normalize(line))
        current = None
    return sections


def criteria_items(sections: list[TextItem]) -> list[TextItem]:
    """Every numbered item of the criteria sections, the section headings included, in text order."""
    return [item for s in sections if s.is_criteria_section for item in s.walk()]
