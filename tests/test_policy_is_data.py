"""The policy lives in ontology/ and shapes/: the Python engine names no criterion, threshold or drug."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ENGINE = Path(__file__).parents[1] / "reasoner"
POLICY_LITERALS = re.compile(
    r"""["']I+\.[AB]\.[0-9]|CP\.CPA|CP\.PMN|HIM\.PA|\b28\b|\b45\b|imatinib|dasatinib|nilotinib|bosutinib|"""
    r"""ponatinib|Sprycel|Gleevec|POMP|Interfant|KMT2A|J9039""", re.IGNORECASE)


@pytest.mark.parametrize("path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE)))
def test_no_policy_literal_in_engine(path):
    hits = [f"{path.relative_to(ENGINE)}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
            if POLICY_LITERALS.search(line) and not line.strip().startswith("#")]
    assert not hits, "policy literals belong in ontology/ or shapes/:\n" + "\n".join(hits)
