"""Shared test fixtures: one Reasoner per set of extra KB files (and one pySHACL reference engine
beside it), and a local contract-v1 checker; the order the tests are handed out in.

The engine (`reasoner`) is imported lazily, inside the fixtures, so the case files and the
strategies can be checked on their own (`pytest -k "well_formed or coverage or strateg"`).

With pytest-xdist (`-n auto`, the README's test command) each worker runs its own session, so
these session fixtures are built once per worker. The slowest tests are handed out first
(`pytest_collection_modifyitems`), one at a time: then no worker is left running a long test alone at
the end. The tests that share an expensive module or session fixture (a JVM, a HermiT run, a served
store: `SHARE_A_WORKER`) go to one worker together (`pytest_xdist_make_scheduler`), so the fixture is
built once a run, not once per worker.
"""
from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Bytecode is written during a test run, as Python does by default, even where the environment says
# not to (PYTHONDONTWRITEBYTECODE, set on this project's machine): otherwise every process the tests
# start (hundreds of `blincyto` runs, each documentation page's copy of the checkout) compiles the
# whole package from source again, about 0.25 s of CPU each, and each xdist worker rewrites every
# test module's asserts again. The caches go to `__pycache__/`, which git ignores. Set before the
# workers and the subprocesses start, so they inherit it.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


@pytest.fixture(scope="session")
def reasoner_for():
    """`reasoner_for(("fixtures/label-change.ttl",))` -> a cached Reasoner; `()` -> default_reasoner()."""
    cache: dict[tuple[str, ...], object] = {}

    def get(kb=()):
        key = tuple(kb)
        if key not in cache:
            import reasoner

            if key:
                cache[key] = reasoner.Reasoner(extra_kb=[TESTS_DIR / p for p in key])
            else:
                cache[key] = reasoner.default_reasoner()
        return cache[key]

    return get


@pytest.fixture(scope="session")
def reference_for(reasoner_for):
    """`reference_for(kb)` -> the pySHACL reference engine over the very knowledge base of
    `reasoner_for(kb)` (the same shapes graph, the same node ids): one per set of KB files a run.
    pySHACL's answers are kept between runs by content (tests/reference_cache.py: a hit is what
    pySHACL answers for that graph; `BLINCYTO_PYSHACL_CACHE=off` computes every one)."""
    cache: dict[tuple[str, ...], object] = {}

    def get(kb=()):
        key = tuple(kb)
        if key not in cache:
            import reasoner
            import reference_cache

            cache[key] = reference_cache.install(reasoner.Reasoner(engine="pyshacl", kb=reasoner_for(key).kb))
        return cache[key]

    return get


@pytest.fixture(scope="session")
def spark():
    """The run's local[2] Spark session (one JVM, ~20 s to start): test_spark.py and test_fhir_batch.py."""
    pytest.importorskip("pyspark")
    from reasoner.pipelines.spark import local_session

    # a short job: the first JIT tier and one GC thread, as lint runs HermiT (the JVM's CPU 34 -> 16 s)
    session = local_session(2, java_options="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    yield session
    session.stop()


# pytest-xdist: a test is handed out alone (its own "scope"), except the tests that share an expensive
# module or session fixture (a JVM, HermiT, a served store, the broken-policy copies, the W3C suite's
# reference run: seconds each), which go to one worker as one unit; split over two workers, each would
# build the fixture. Node id prefix -> unit (the controller sees node ids only).
SHARE_A_WORKER = {
    "tests/test_spark.py::": "spark",
    "tests/test_fhir_batch.py::test_spark_": "spark",
    "tests/test_ontology.py::test_hermit_": "ontology-hermit",
    "tests/test_lint.py::": "lint",
    "tests/test_w3c_shacl.py::": "w3c-shacl",
    "tests/test_queries.py::": "queries",
    "tests/test_endpoint.py::": "endpoint",
    "tests/test_endpoint_hostile.py::": "endpoint-hostile",
    "tests/test_witness.py::": "witness",
    "tests/test_architecture.py::": "architecture",  # the package's import graph, parsed once
}


# Test files whose tests take longest (seconds each: the documentation's commands, pySHACL on
# generated requests, the wheel in a fresh virtual environment, servers, a browser, HermiT).
# They go first, so that with several workers the short tests fill in around them.
SLOW_FIRST = ("test_docs.py", "test_fastpath_differential.py", "test_wheel.py", "test_endpoint.py",
              "test_html_browser.py", "test_review.py", "test_spark.py", "test_first_use.py",
              "test_witness.py", "test_lint.py", "test_lint_meta.py", "test_ontology.py", "test_versions.py")


def pytest_xdist_make_scheduler(config, log):
    """`-n N` (xdist's default `--dist load`): every test alone, SHARE_A_WORKER's units whole, the
    largest units first, then the tests in the order below; a worker gets more when it has two left."""
    if config.getvalue("dist") != "load":
        return None  # another --dist asked for: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((unit for prefix, unit in SHARE_A_WORKER.items() if nodeid.startswith(prefix)), nodeid)

    return SharedFixtureScheduling(config, log)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the order within a file is kept


# --------------------------------------------------------------------------------------------
# Contract v1 (shared/contract/request-v1.md), checked locally so that the test data itself
# can be verified without the engine. Returns a list of (dotted field, reason).

REQUIRED = ("id", "request_type", "request_date", "line_of_business", "member.birth_date",
            "prescriber.specialty", "diagnosis.condition")

ENUMS = {
    "request_type": {"initial", "continuation"},
    "line_of_business": {"commercial", "HIM", "medicaid"},
    "formulary_status": {"formulary", "non-formulary"},
    "diagnosis.ph_status": {"positive", "negative", "ph-like", "unknown"},
    "diagnosis.disease_status": {"newly-diagnosed", "complete-remission", "relapsed", "refractory"},
    "diagnosis.mrd.status": {"positive", "negative", "unavailable"},
    "regimen.phase": {"induction", "consolidation", "maintenance", "post-consolidation"},
    "regimen.mode": {"single-agent", "combination", "alternating"},
    "dose.unit": {"mcg/day", "mcg/m2/day"},
    "continuation.previous_dose.unit": {"mcg/day", "mcg/m2/day"},
}

STRINGS = ("id", "policy", "prescriber.specialty", "diagnosis.condition", "diagnosis.icd10cm",
           "dose.supporting_evidence")
DATES = ("request_date", "member.birth_date", "diagnosis.diagnosis_date")
POSITIVE_NUMBERS = ("member.weight_kg", "member.height_cm", "member.bsa_m2", "dose.value",
                    "continuation.previous_dose.value")
NON_NEGATIVE_NUMBERS = ("diagnosis.mrd.level_percent",)
BOOLEANS = ("member.hypersensitivity_to_blinatumomab", "diagnosis.cd19_positive",
            "diagnosis.kmt2a_rearranged", "continuation.receiving_via_benefit",
            "continuation.indication_covered", "continuation.responding")
STRING_LISTS = ("prescriber.consulting_specialties", "regimen.with")
OBJECTS = ("member", "prescriber", "diagnosis", "diagnosis.mrd", "regimen", "dose", "continuation",
           "continuation.previous_dose")

_ABSENT = object()


def get_path(obj, path, default=_ABSENT):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def _date(value):
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@pytest.fixture(scope="session")
def contract_check():
    """The local contract checker, as a fixture (test modules do not import conftest)."""
    return contract_problems


def contract_problems(req) -> list[tuple[str, str]]:
    """Local reading of contract v1 'Invalid input'; used to check the test data, not the engine."""
    if not isinstance(req, dict):
        return [("(request)", "not an object")]
    out = []
    for path in OBJECTS:
        v = get_path(req, path)
        if v is not _ABSENT and not isinstance(v, dict):
            out.append((path, "not an object"))
    for path in REQUIRED:
        if get_path(req, path) is _ABSENT:
            out.append((path, "required"))
    for path in STRINGS:
        v = get_path(req, path)
        if v is not _ABSENT and not isinstance(v, str):
            out.append((path, "not a string"))
    for path, allowed in ENUMS.items():
        v = get_path(req, path)
        if v is not _ABSENT and v not in allowed:
            out.append((path, f"not one of {sorted(allowed)}"))
    dates = {}
    for path in DATES:
        v = get_path(req, path)
        if v is not _ABSENT:
            d = _date(v)
            if d is None:
                out.append((path, "not an ISO date"))
            dates[path] = d
    for path in POSITIVE_NUMBERS:
        v = get_path(req, path)
        if v is not _ABSENT and (not _is_number(v) or v <= 0):
            out.append((path, "not a positive number"))
    for path in NON_NEGATIVE_NUMBERS:
        v = get_path(req, path)
        if v is not _ABSENT and (not _is_number(v) or v < 0):
            out.append((path, "not a non-negative number"))
    v = get_path(req, "continuation.days_on_therapy")
    if v is not _ABSENT and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
        out.append(("continuation.days_on_therapy", "not a non-negative integer"))
    for path in BOOLEANS:
        v = get_path(req, path)
        if v is not _ABSENT and not isinstance(v, bool):
            out.append((path, "not a boolean"))
    for path in STRING_LISTS:
        v = get_path(req, path)
        if v is not _ABSENT and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            out.append((path, "not a list of strings"))
    rd, bd, dd = (dates.get(p) for p in DATES)
    if rd and bd and bd > rd:
        out.append(("member.birth_date", "after request_date"))
    if dd and bd and dd < bd:
        out.append(("diagnosis.diagnosis_date", "before member.birth_date"))
    if dd and rd and dd > rd:
        out.append(("diagnosis.diagnosis_date", "after request_date"))
    return out
