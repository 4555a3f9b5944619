"""A mistake in the policy files fails at load, naming the finding, the file and the term.

Hostile copies of the shipped graphs (a version override an author could write, an extra KB file, a
copy of the whole checkout with one edited line), each with one mistake: a one-letter typo on a
shape's path, an undeclared class, a criterion without a shape, a shape that names no shape, a shape
the engine cannot run. Loading refuses each (`PolicyError`); the command line prints one line and
exits 3. A threshold that disagrees with its policy sentence is lint's (it does not stop a load).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from processes import checkout_copy

from authoring_util import REPO_ROOT, make_version, parses_shared

from reasoner.policy.integrity import PolicyError

AGE = "shp:I.A.3 sh:property [ sh:path ( bx:member bx:ageInMonths ) ; sh:minCount 1 ; sh:minInclusive {} ] ."

MISTAKES = {
    # (override, check, term, words of the message)
    "typo-on-path": ("shp:I.A.3 sh:property [ sh:path ( bx:member bx:ageInMonth ) ; sh:minCount 1 ; "
                     "sh:minInclusive 1 ] .", "declared", "shp:I.A.3", "bx:ageInMonth"),
    "undeclared-class": ("shp:I.A.1 sh:property [ sh:path ( bx:diagnosis bx:condition ) ; sh:minCount 1 ; "
                         "sh:class bx:BCellPrecursorAL ] .", "declared", "shp:I.A.1", "class bx:BCellPrecursorAL"),
    "undeclared-individual": ("shp:I.A.4.c.iv sh:property [ sh:path ( bx:regimen bx:mode ) ; "
                              "sh:hasValue kb:Mode-single ] .", "declared", "shp:I.A.4.c.iv", "kb:Mode-single"),
    "criterion-without-shape": ("cp:I.A bx:allOf ( cp:I.A.1 cp:I.A.2 cp:I.A.3 cp:I.A.4 cp:I.A.5 cp:I.A.6 ) .\n"
                                'cp:I.A.6 a bx:Criterion ; dcterms:identifier "I.A.6" ; '
                                'bx:policySentence "A new criterion." .', "leaf", "cp:I.A.6", "no shape"),
    "shape-not-defined": ("cp:I.A.3 bx:shape shp:I.A.3-typo .", "reachable", "cp:I.A.3", "shp:I.A.3-typo"),
    "tree-lists-no-criterion": ("cp:I.A bx:allOf ( cp:I.A.1 cp:I.A.2 cp:I.A.3 cp:I.A.4 cp:I.A.55 ) .",
                                "reachable", "cp:I.A", "cp:I.A.55"),
    "engine-cannot-run": ('shp:I.A.3 sh:property [ sh:path ( bx:member bx:ageInMonths ) ; sh:minCount "one" ] .',
                          "engine", "shp:I.A.3", "sh:minCount must be one non-negative xsd:integer"),
    "forbidden-sparql": ('shp:I.A.3 sh:sparql [ sh:select "SELECT $this WHERE { SERVICE <http://example.org/> '
                         '{ $this ?p ?o } }" ] .', "engine", "shp:I.A.3", "SERVICE"),
}


@pytest.fixture(scope="module", autouse=True)
def _parses_shared():
    """The shipped Turtle files parsed once for the lints and versions built here (authoring_util)."""
    with parses_shared():
        yield


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_version_with_a_mistake_does_not_load(tmp_path, name):
    import reasoner

    override, check, term, words = MISTAKES[name]
    folder = make_version(tmp_path, name, override)
    with pytest.raises(PolicyError) as err:
        reasoner.Reasoner(version=folder)
    found = [(c, f, t, m) for c, f, t, m in err.value.findings if c == check and t == term]
    assert found, err.value.findings
    _check, file, _term, message = found[0]
    assert file.endswith("override.ttl"), file
    assert words in message, message
    assert "\n" not in str(err.value) and term in str(err.value)


def test_an_extra_kb_file_with_a_mistake_is_named(tmp_path):
    from reasoner.policy.kb import load

    extra = tmp_path / "extra.ttl"
    extra.write_text("""@prefix bx: <https://w3id.org/blincyto-pa/ontology#> .
@prefix cp: <https://w3id.org/blincyto-pa/policy/CP.PHAR.312/> .
@prefix dcterms: <http://purl.org/dc/terms/> .
cp:I.A.9 a bx:Criterion ; dcterms:identifier "I.A.9" .
""")
    with pytest.raises(PolicyError) as err:
        load([extra])
    assert err.value.findings == [("leaf", str(extra), "cp:I.A.9", "is a leaf with no shape: it would always be met")]


def test_a_threshold_that_disagrees_with_its_sentence_is_linted(tmp_path):
    """"Age ≥ 1 month;" over sh:minInclusive 2, and over sh:minExclusive 1: loads, but lint says so."""
    import reasoner
    from reasoner.authoring.lint import lint

    for override, words in ((AGE.format(2), "tests sh:minInclusive 2, but its policy sentence states 1"),
                            (AGE.replace("sh:minInclusive {}", "sh:minExclusive 1"),
                             "tests sh:minExclusive 1, but its policy sentence compares 1 as min-inclusive")):
        folder = make_version(tmp_path / words[6:20].replace(" ", "-"), "threshold", override)
        reasoner.Reasoner(version=folder)  # a decision is still meaningful: not a load error
        found = [f for f in lint(folder, hermit=False, shacl_shacl=False) if f.check == "threshold"]
        assert [(f.level, f.term) for f in found] == [("error", "shp:I.A.3")], found
        assert words in found[0].message and found[0].file.endswith("override.ttl")


def test_the_shipped_thresholds_agree_with_their_sentences():
    from reasoner.authoring.lint import lint

    assert not [f.line() for f in lint(hermit=False, shacl_shacl=False) if f.check == "threshold"]


def test_the_command_line_prints_one_line_and_exits_3(tmp_path):
    """A copy of the checkout with one edited line: `check` and `batch` refuse to start."""
    copy = checkout_copy(tmp_path)
    initial = copy / "shapes" / "initial.ttl"
    text = initial.read_text(encoding="utf-8")
    assert text.count("sh:path ( bx:member bx:ageInMonths )") == 1
    initial.write_text(text.replace("sh:path ( bx:member bx:ageInMonths )", "sh:path ( bx:member bx:ageInMonth )"),
                       encoding="utf-8")
    request = REPO_ROOT / "examples" / "approve-initial-ph-negative-consolidation-commercial.json"
    env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"}
    for args in (["check", str(request)], ["batch", str(request.parent), "-o", str(tmp_path / "out.jsonl"), "-w", "1"]):
        done = subprocess.run([sys.executable, "-m", "reasoner.cli", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=120)
        assert done.returncode == 3, (done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "shapes/initial.ttl" in lines[0] and "shp:I.A.3" in lines[0] and "bx:ageInMonth," in lines[0]
        assert done.stdout == ""
    assert not (tmp_path / "out.jsonl").exists()  # refused before the output is touched
    # the unedited copy runs
    initial.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "reasoner.cli", "check", str(request), "-f", "json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decision"] == "approve"


def test_the_checks_read_the_graphs_once_per_load():
    """What load runs is the integrity checks over the graphs already parsed, nothing per request."""
    from reasoner.policy import integrity
    from reasoner.policy.kb import load

    kb = load()
    assert integrity.findings(kb.graph, kb.shapes, kb.types) == []
    assert kb.compiled is not None and not kb.compiled.not_compiled


def test_lint_reports_the_load_checks_with_their_files(tmp_path):
    from reasoner.authoring.lint import lint

    folder = make_version(tmp_path, "typo", MISTAKES["typo-on-path"][0])
    found = [f for f in lint(folder, hermit=False, shacl_shacl=False) if f.level == "error"]
    assert [(f.check, f.term) for f in found] == [("declared", "shp:I.A.3")], found
    assert found[0].file.endswith("override.ttl") and "bx:ageInMonth," in found[0].message


def test_policy_error_is_a_value_error_with_every_finding(tmp_path):
    import reasoner

    folder = make_version(tmp_path, "two", MISTAKES["typo-on-path"][0] + "\n" + MISTAKES["shape-not-defined"][0])
    with pytest.raises(ValueError) as err:
        reasoner.Reasoner(version=folder)
    assert isinstance(err.value, PolicyError)
    assert {f[0] for f in err.value.findings} == {"declared", "reachable"}
    assert "(and 1 more: blincyto lint)" in str(err.value)
    assert Path(err.value.findings[0][1]).name == "override.ttl"
