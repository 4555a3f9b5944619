"""The determination as a reviewer reads it: decision, period, pathways, what failed and why.

Every string goes through `terminal_safe` first: a request's `id` (and any other text that came
from the caller) may hold ANSI escapes, line breaks or bidirectional overrides, and none of them may
reach the terminal as such (a crafted id could otherwise print a fake `Decision: APPROVE` line).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["DECISION_STYLE", "Parts", "plain_output", "render_parts", "render_plain", "render_text", "terminal_safe",
           "write_text"]


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def terminal_safe(value: Any) -> str:
    """`value` as text a terminal shows as it is: every character that is not printable (control
    characters, ESC, line breaks, tabs, format characters such as U+202E, lone surrogates) written
    as a Python-style escape (`\\x1b`, `\\u202e`)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)

DECISION_STYLE = {"approve": "bold green", "needs-info": "bold yellow", "refer": "bold cyan", "deny": "bold red"}


def _yes_no(value: Any) -> str:
    if value is None:
        return "unknown"
    return "yes" if value else "no"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _derived_lines(derived: dict, request_type: str | None = None) -> list[str]:
    lines: list[str] = []
    rest = dict(derived)
    years, months, group = rest.pop("age_years", None), rest.pop("age_months", None), rest.pop("age_group", None)
    if years is not None or months is not None:
        parts = []
        if years is not None:
            parts.append(f"{years} years")
        if months is not None:
            parts.append(f"({months} months)" if parts else f"{months} months")
        age = " ".join(parts)
        lines.append(f"Age at request date: {age}" + (f", {group}" if group else ""))
    elif group:
        lines.append(f"Age group: {group}")
    labels: dict[str, tuple[str, Callable[[Any], str]]] = {
        "infant_all": ("Infant ALL", _yes_no),
        "bsa_m2": ("Body-surface area", lambda v: f"{_number(v)} m2"),
        "weight_band": ("Weight band", str),
        "daily_dose_mcg": ("Daily dose used", lambda v: f"{_number(v)} mcg/day"),
        "dose_increase": ("Dose increase", _yes_no),
        "agents": ("Other agents", lambda v: ", ".join(v) if v else "none"),
        "regimens": ("Regimens recognised", lambda v: ", ".join(v) if v else "none"),
    }
    for key, (label, show) in labels.items():
        if key in rest:
            value = rest.pop(key)
            if key == "dose_increase" and value is None and request_type != "continuation":
                continue  # only a continued-therapy request can be a dose increase
            if value is None and key not in ("infant_all", "dose_increase"):
                lines.append(f"{label}: unknown")
            else:
                lines.append(f"{label}: {show(value)}")
    for key, value in rest.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else ("unknown" if value is None else value)
        lines.append(f"{key.replace('_', ' ').capitalize()}: {shown}")
    return lines


class Parts(list):
    """The rendered text as (text, style) pieces: rich's `Text.append` without importing rich, so a
    `check` whose output is not a terminal writes the plain text without loading it."""

    def append(self, text: str, style: str | None = None) -> None:  # type: ignore[override]
        super().append((text, style))

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self)


def render_text(det: dict, policy_text: Callable[[str], str | None] = lambda number: None) -> Text:
    """What a reviewer reads, as rich Text (styled for a terminal): `render_parts` in rich's terms."""
    from rich.text import Text

    out = Text()
    for text, style in render_parts(det, policy_text):
        out.append(text, style=style)
    return out


def render_plain(det: dict, policy_text: Callable[[str], str | None] = lambda number: None) -> str:
    """What a reviewer reads, as the plain text rich writes when its output is not a terminal."""
    return render_parts(det, policy_text).plain


def render_parts(det: dict, policy_text: Callable[[str], str | None] = lambda number: None) -> Parts:
    """What a reviewer reads: decision, period, pathways, what failed and why, referral, warnings."""
    out = Parts()
    safe = terminal_safe

    def line(text: str = "", style: str | None = None) -> None:
        out.append(safe(text), style=style)
        out.append("\n")

    def heading(text: str) -> None:
        line()
        line(text, "bold")

    def quote(sentence: str | None) -> None:
        if sentence:
            line(f"    Policy: \"{sentence}\"")

    version = f" (version {det['policy_version']})" if det.get("policy_version") else ""
    line(f"Request {det.get('id', '')}: {det.get('request_type', 'request')} request, "
         f"policy {det.get('policy', '')}{version}")
    decision = str(det.get("decision", ""))
    out.append("Decision: ")
    out.append(safe(decision.upper()), style=DECISION_STYLE.get(decision))
    out.append("\n")
    months = det.get("approval_months")
    line(f"Approval period: {months} months" if months else "Approval period: none")

    pathways = det.get("pathways") or []
    if pathways:
        heading("Pathway met:" if len(pathways) == 1 else "Pathways met:")
        for number in pathways:
            line(f"  {number}")
            quote(policy_text(number))

    needs = det.get("needs") or []
    if needs:
        # What would decide the request comes first: the closest pathways' fields to send.
        best = len(needs[0].get("missing") or [])
        closest = [n for n in needs if len(n.get("missing") or []) == best]
        send = sorted({f for n in closest for f in n.get("send") or []})
        heading("To decide, send:")
        line(f"  {', '.join(send) or 'the facts the missing criteria are about (see below)'}"
             f"  (closest {'pathway' if len(closest) == 1 else 'pathways'}: {', '.join(n['pathway'] for n in closest)})")
        heading("Pathways still open, closest first:")
        for item in needs:
            missing = ", ".join(item.get("missing") or []) or "none"
            to_send = ", ".join(item.get("send") or []) or "see the missing criteria"
            line(f"  {item.get('pathway', '')}: missing {missing}; send {to_send}")
            quote(policy_text(item.get("pathway", "")))

    failed = det.get("failed") or []
    if failed:
        heading("Every criterion not met or missing, all pathways:" if needs else "Criteria not met or missing:")
        for item in failed:
            number = item.get("criterion", "")
            kind = item.get("kind", "")
            out.append(safe(f"  {number} "))
            out.append(safe(f"[{kind}]"), style="red" if kind == "not-met" else "yellow")
            out.append(safe(f" {item.get('message', '')}"))
            out.append("\n")
            quote(item.get("policy_text") or policy_text(number))
            wanted = item.get("needs") or []  # this criterion's fields, not the determination's `needs`
            if wanted:
                line(f"    Needed: {', '.join(wanted)}")
            elif kind == "missing":
                line("    Needed: the facts this criterion is about (see the message)")

    closest = [] if needs else det.get("closest") or []  # with `needs`, the open pathways say it
    if closest:
        heading("Closest pathway:" if len(closest) == 1 else "Closest pathways:")
        for item in closest:
            not_met = ", ".join(item.get("not_met") or []) or "none"
            missing = ", ".join(item.get("missing") or []) or "none"
            line(f"  {item.get('pathway', '')}: not met: {not_met}; missing: {missing}")
            quote(policy_text(item.get("pathway", "")))

    referral = det.get("referral")
    if referral:
        heading("Referral:")
        target = referral.get("policy", "")
        section = referral.get("section")
        line(f"  Refer to {target}" + (f" (section {section})" if section else ""))
        if referral.get("reason"):
            line(f"  Reason: {referral['reason']}")

    warnings = det.get("warnings") or []
    if warnings:
        heading("Warnings:")
        for warning in warnings:
            code = f" [{warning['code']}]" if warning.get("code") else ""
            line(f"  - {warning.get('message', '')}{code}")

    derived = det.get("derived") or {}
    if derived:
        heading("Derived facts:")
        for text in _derived_lines(derived, det.get("request_type")):
            line(f"  {text}")

    sources = det.get("sources") or {}
    if sources:  # a FHIR Bundle's request: where each field came from
        heading("Sources (FHIR):")
        for name, items in sources.items():
            line(f"  {name}: " + "; ".join(f"{i.get('resource', '')} {i.get('element', '')}" for i in items))
    return out


def write_text(parts: Any) -> None:
    """The reviewer's text: plain where rich would write no escape codes (not a terminal), else
    through rich, styled as it decides (colour system, NO_COLOR, a dumb terminal)."""
    if plain_output(sys.stdout):
        sys.stdout.write(parts.plain)
        return
    from rich.console import Console
    from rich.text import Text

    out = Text()
    for text, style in parts:
        out.append(text, style=style)
    Console(file=sys.stdout, highlight=False, soft_wrap=True).print(out, end="")


def plain_output(stream: Any) -> bool:
    """True when rich's Console on `stream` is not a terminal (rich's `Console.is_terminal`, read
    the same way: TTY_COMPATIBLE, then FORCE_COLOR, then isatty): it then writes the text unstyled."""
    import builtins

    if getattr(sys.stdin, "__module__", "").startswith("idlelib") or hasattr(builtins, "get_ipython"):
        return False  # rich's own special cases: let rich decide
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "0"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force == ""
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:
        return True
