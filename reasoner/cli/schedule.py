"""Commands for pharmacy and claims reviewers: the Section V plan of a request, and units on a claim.

    blincyto schedule REQUEST [--format text|json]
    blincyto units REQUEST [--units-billed N] [--cycle C] [--format text|json]

REQUEST is a contract v1 JSON file, or - for standard input. Exit status 0 with a plan (also when
facts it needs are missing: the output says which), 2 on invalid input with
`error: <field>: <reason>` on standard error, as `blincyto check`.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable

from reasoner.cli.exits import EXIT_INVALID, Exit
from reasoner.cli.render import Parts, write_text
from reasoner.cli.table import Command, arg, opt
from reasoner.cli.words import plural

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

_MIN_WIDTH = 120  # a piped table keeps its columns


class PlanFormat(str, Enum):
    text = "text"
    json = "json"


def _num(x: Any) -> str:
    if x is None:
        return "?"
    if isinstance(x, float):
        return f"{x:.2f}".rstrip("0").rstrip(".")
    return str(x)


def _console() -> Console:
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal or console.width < _MIN_WIDTH:
        console = Console(file=sys.stdout, highlight=False, width=max(console.width, _MIN_WIDTH))
    return console


def _load(request: str) -> dict[str, Any]:
    from reasoner.flow.check import WHOLE_REQUEST, parse_request_text

    try:
        data = sys.stdin.buffer.read() if request == "-" else open(request, "rb").read()
    except OSError as exc:
        raise _fail(WHOLE_REQUEST, f"cannot read {request}: {exc.strerror or exc}") from None
    return _guard(lambda: parse_request_text(data))


def _fail(field: str, reason: str) -> Exit:
    sys.stderr.write(f"error: {field}: {reason}\n")
    return Exit(EXIT_INVALID)


def _guard(call: Callable[[], Any]) -> Any:
    from reasoner.flow.check import InvalidRequest

    try:
        return call()
    except InvalidRequest as exc:
        raise _fail(exc.field, exc.reason) from None


# --------------------------------------------------------------------------- text


def _segment_cells(segment: dict[str, Any]) -> tuple[str, str, str]:
    days = f"{segment['first_day']}-{segment['last_day']}"
    if segment["kind"] != "dose":
        return days, f"treatment-free ({segment['treatment_free_days']} days)", "-"
    label = f"{_num(segment['label_dose'])} {segment['label_unit']}" + (" (step-up)" if segment["step_up"] else "")
    mcg = _num(segment["mcg_per_day"]) + (" (max)" if segment["capped"] else "")
    return days, label, mcg


def render_plan(plan: dict[str, Any]) -> list[Any]:
    """Header lines, the cycle table and the rules, ready for a rich Console."""
    from rich.text import Text

    code = (plan.get("billing") or {}).get("code", "billing")
    head = Text()
    version = f" (version {plan['policy_version']})" if plan.get("policy_version") else ""
    head.append(f"Request {plan['id']}: Section V dosing schedule, policy {plan['policy']}{version}\n", style="bold")
    ind = plan.get("indication")
    if ind:
        head.append(f"Indication: {ind['label']}\n  {ind['treatment_course']}\n")
        if ind["also_fits"]:
            head.append(f"  Also fits: {'; '.join(ind['also_fits'])} (the row above takes precedence)\n")
    band = plan.get("weight_band")
    weight = f"{_num(plan['weight_kg'])} kg" if plan.get("weight_kg") is not None else "weight unknown"
    head.append(f"Weight: {weight}" + (f", band {band['label']}" if band else ""))
    head.append(f"; body-surface area: {_num(plan['bsa_m2'])} m2\n" if plan.get("bsa_m2") is not None
                else "; body-surface area unknown\n")
    if plan.get("maximum_daily_dose_mcg") is not None:
        head.append(f"Maximum dose: {_num(plan['maximum_daily_dose_mcg'])} mcg/day; "
                    f"at most {plural(plan['maximum_cycles'], 'cycle')} (* optional: \"up to\")\n")
    if plan.get("message"):
        head.append(plan["message"] + "\n", style="bold yellow")
    out: list[Any] = [head]
    if plan["cycles"]:
        from rich import box  # rich's tables: imported by `schedule` only, not at every start
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for name, justify in (("Cycle", "right"), ("Phase", "left"), ("Days", "left"), ("Section V dose", "left"),
                              ("mcg/day", "right"), ("Cycle mcg", "right"), (f"{code} units", "right"),
                              ("Vials", "right")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for c in plan["cycles"]:
            cells = [_segment_cells(s) for s in c["segments"]]
            table.add_row(f"{c['cycle']}{'*' if c['optional'] else ''}", c["phase"],
                          "\n".join(x[0] for x in cells), "\n".join(x[1] for x in cells),
                          "\n".join(x[2] for x in cells), _num(c["total_mcg"]), _num(c["units"]), _num(c["vials"]))
        out.append(table)
    tail = Text()
    course = plan["course_maximum"]
    if plan["cycles"]:
        tail.append(f"Whole course (every cycle, optional ones included): {plural(course['cycles'], 'cycle')}, "
                    f"{_num(course['total_mcg'])} mcg, {_num(course['units'])} {code} "
                    f"{'unit' if course['units'] == 1 else 'units'}, "
                    f"{_num(course['vials'])} {'vial' if course['vials'] == 1 else 'vials'}\n")
    if plan.get("billing"):
        tail.append(f"Units: {plan['billing']['rule']} ({code}: {plan['billing']['description']})\n")
    if plan.get("vials"):
        tail.append(f"Vials: {plan['vials']['rule']} ({plan['vials']['product']})\n")
    out.append(tail)
    return out


def render_units(check: dict[str, Any]) -> Parts:
    """The check, as (text, style) parts: plain text where the output is not a terminal, without rich."""
    out = Parts()
    code = check.get("billing_code") or "billing"
    out.append(f"Request {check['id']}: {code} units for cycle {check['cycle']}\n", style="bold")
    within = check["within_allowed"]
    verdict = "unknown" if within is None else "within Section V" if within else "EXCEEDS Section V"
    out.append(f"Billed: {check['units_billed']}; allowed: {_num(check['units_allowed'])}; ")
    out.append(verdict + "\n", style="bold green" if within else "bold red" if within is False else "bold yellow")
    out.append(check["explanation"] + "\n")
    return out


# --------------------------------------------------------------------------- commands


REQUEST = arg("request", metavar="REQUEST", help="request JSON file (contract v1), or - for standard input",
              required=True)
COMMANDS = (
    Command(("schedule",), "The cycle-by-cycle Section V plan for the request's indication, weight band and BSA, "
            "with units and vials.", (
                REQUEST,
                opt("format", "--format", "-f", metavar="text|json", choices=PlanFormat, default=PlanFormat.text.value,
                    help="text (a table for a reviewer) or json"),
            ), "reasoner.cli.schedule:schedule_command", one_off=True),
    Command(("units",), "Billing units on a claim for one cycle against what Section V allows for this patient.", (
        REQUEST,
        opt("units_billed", "--units-billed", type="int", min=0,
            help="billing units on the claim (default: the request's units_billed)"),
        opt("cycle", "--cycle", type="int", min=1, help="the cycle billed (default: the request's regimen.cycle)"),
        opt("format", "--format", "-f", metavar="text|json", choices=PlanFormat, default=PlanFormat.text.value,
            help="text or json"),
    ), "reasoner.cli.schedule:units_command", one_off=True),
)


def schedule_command(request: str, format: PlanFormat = PlanFormat.text) -> None:
    """The plan, as JSON or as a table for a reviewer."""
    from reasoner.planning.plan import schedule

    data = _load(request)
    plan = _guard(lambda: schedule(data))
    if format is PlanFormat.json:
        sys.stdout.write(json.dumps(plan, indent=2, ensure_ascii=False) + "\n")
        return
    from rich.text import Text

    console = _console()
    for part in render_plan(plan):
        console.print(part, end="" if isinstance(part, Text) else "\n", soft_wrap=isinstance(part, Text))


def units_command(request: str, units_billed: int | None = None, cycle: int | None = None,
                  format: PlanFormat = PlanFormat.text) -> None:
    """Each figure comes from its option or from the request: when neither has it, name the option."""
    from reasoner.planning.plan import check_units

    data = _load(request)
    if units_billed is None and data.get("units_billed") is None:
        raise _fail("--units-billed", "required: the billing units on the claim (or units_billed in the request)")
    if cycle is None and (data.get("regimen") or {}).get("cycle") is None:
        raise _fail("--cycle", "required: the cycle billed (or regimen.cycle in the request)")
    check = _guard(lambda: check_units(data, units_billed, cycle))
    if format is PlanFormat.json:
        sys.stdout.write(json.dumps(check, indent=2, ensure_ascii=False) + "\n")
    else:
        write_text(render_units(check))


def register(app: Any) -> None:
    """Add `schedule` and `units` to the `blincyto` command."""
    from reasoner.cli.typed import add

    for command in COMMANDS:
        add(app, command)
