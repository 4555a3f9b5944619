"""Counting agents for "multiagent therapy" (issue 12, section 3), as properties (hypothesis).

Over any list of names the knowledge base knows (drugs, brands, named regimens; any case) and
names it does not: repeating, reordering or re-casing names never changes the count, a supportive
care agent never adds to it, an unknown name adds one, and the count is the number of distinct
agents the names stand for (each regimen by its components).
"""
from __future__ import annotations

import copy
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reasoner
from reasoner.policy.kb import BX

PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

BASE = {
    "id": "count", "request_type": "initial", "request_date": "2026-03-10", "line_of_business": "commercial",
    "formulary_status": "formulary", "member": {"birth_date": "1981-03-12", "weight_kg": 78.0},
    "prescriber": {"specialty": "oncology"},
    "diagnosis": {"condition": "B-ALL", "cd19_positive": True, "ph_status": "negative",
                  "disease_status": "complete-remission", "mrd": {"status": "negative"}},
    "regimen": {"phase": "consolidation", "mode": "alternating", "with": []},
    "dose": {"value": 28, "unit": "mcg/day"},
}
UNKNOWN = ["Zorvacel", "Xylotinib", "agent QX-17"]


def _kb():
    return reasoner.default_reasoner().kb


def _known_names() -> list[str]:
    return sorted(_kb().labels["agent"])


def _count(names: list[str]) -> tuple[int, str]:
    request = copy.deepcopy(BASE)
    request["regimen"]["with"] = names
    ev = reasoner.default_reasoner().evaluate_full(request)
    g = ev.request_graph
    (count,) = g.objects(g.value(ev.request_iri, BX.regimen), BX.otherAgentCount)
    return count.toPython(), ev.determination["decision"]


def _recase(name: str, seed: int) -> str:
    rnd = random.Random(seed)
    return "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in name)


names = st.lists(st.one_of(st.sampled_from(_known_names()), st.sampled_from(UNKNOWN)), max_size=6)


@PROPERTY
@given(chosen=names, seed=st.integers(0, 10_000))
def test_repeating_reordering_and_recasing_names_never_changes_the_count(chosen, seed):
    count, decision = _count(chosen)
    varied = [_recase(n, seed + i) for i, n in enumerate(chosen + chosen)]
    random.Random(seed).shuffle(varied)
    assert _count(varied) == (count, decision)


@PROPERTY
@given(chosen=names, supportive=st.sampled_from(["leucovorin", "folinic acid", "mesna", "Mesnex", "G-CSF", "Neupogen"]))
def test_supportive_care_never_adds_an_agent(chosen, supportive):
    count, _ = _count(chosen)
    assert _count(chosen + [supportive])[0] == count


@PROPERTY
@given(chosen=st.lists(st.sampled_from(_known_names()), max_size=5), unknown=st.sampled_from(UNKNOWN))
def test_an_unknown_name_adds_one_agent(chosen, unknown):
    if any(n.casefold() == unknown.casefold() for n in chosen):
        return
    assert _count(chosen + [unknown])[0] == _count(chosen)[0] + 1


@PROPERTY
@given(chosen=st.lists(st.sampled_from(_known_names()), min_size=1, max_size=5))
def test_the_count_is_the_distinct_agents_the_names_stand_for(chosen):
    """Worked out here from the graph: each name's drug, or its regimen's components (and those of
    what it is a variant of); alternatives as one asparaginase; the policy's drug and supportive
    care left out."""
    kb = _kb()
    g = kb.graph
    drug = kb.policies["CP.PHAR.312"].covered_drug
    supportive = {s for s, _ in g.subject_objects(BX.countedAsAgent)}
    agents: set = set()
    for n in chosen:
        found = kb.labels["agent"][n.strip().casefold()]
        todo = [found]
        while todo:
            x = todo.pop()
            if BX.NamedRegimen in kb.types.get(x, ()):
                todo.extend(g.objects(x, BX.hasComponent))
                todo.extend(kb.broader.get(x, ()))
            else:
                agents.add(x)
    agents = {a for a in agents if a != drug and not (kb.types.get(a, frozenset()) & supportive)}
    alternatives = {a for a in agents if a in kb.alternatives}
    drugs = agents - alternatives
    # the alternatives in these regimens are all asparaginases: one agent, unless a drug of theirs is named
    expected = len(drugs) + (1 if alternatives and not any(kb.alternatives[a] & drugs for a in alternatives) else 0)
    assert _count(chosen)[0] == expected, chosen
