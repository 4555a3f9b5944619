"""Tests of the OWL 2 knowledge base in ontology/*.ttl.

1. every file parses (rdflib);
2. the whole KB is consistent for HermiT (owlready2);
3. TKIs are recognised through the class hierarchy only; no POMP component is a TKI;
4. HermiT classifies regimens by their components (POMP: all four; two are not enough);
5. brand names resolve to their ingredient by case-insensitive label look-up;
6. every external code IRI is one that docs/codes.md confirms, or cites a source of its own (a
   repository and file, per code in dcterms:source) and is none that codes.md calls wrong;
7. Section V is data: one SPARQL query lists the schedule per indication and weight band.

Run: cd /work/main && /work/venv/bin/python -m pytest tests/test_ontology.py -q
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS

ROOT = Path(__file__).resolve().parents[1]
ONTOLOGY_DIR = ROOT / "ontology"
ONTOLOGY_FILES = sorted(ONTOLOGY_DIR.glob("*.ttl"))
CODES_MD = Path(__file__).resolve().parents[2] / "shared" / "docs" / "codes.md"
ARCHITECTURE_MD = ROOT / "docs" / "architecture.md"

BX = Namespace("https://w3id.org/blincyto-pa/ontology#")
KB = Namespace("https://w3id.org/blincyto-pa/kb/")
CP = Namespace("https://w3id.org/blincyto-pa/policy/CP.PHAR.312/")
TEST = Namespace("https://w3id.org/blincyto-pa/test/")

NCIT = "http://purl.obolibrary.org/obo/NCIT_"
ATC = "http://www.whocc.no/atc/"
RXNORM = "http://purl.bioontology.org/ontology/RXNORM/"
ICD10CM = "http://purl.bioontology.org/ontology/ICD10CM/"
CODE_BASES = {"NCIt": NCIT, "ATC": ATC, "RxNorm": RXNORM, "ICD-10-CM": ICD10CM}

XSD = Namespace("http://www.w3.org/2001/XMLSchema#")  # open namespace: rdflib's closed XSD warns under pytest

PREFIXES = f"""
PREFIX bx:   <{BX}>
PREFIX kb:   <{KB}>
PREFIX rdf:  <{RDF}>
PREFIX rdfs: <{RDFS}>
PREFIX skos: <{SKOS}>
"""

TKIS = ["imatinib", "dasatinib", "nilotinib", "bosutinib", "ponatinib"]
# BCR::ABL1 inhibitors beyond the policy's examples ("e.g."): asciminib, and those approved outside the US
OTHER_TKIS = ["asciminib", "radotinib", "flumatinib", "olverembatinib"]
POMP_COMPONENTS = ["mercaptopurine", "vincristine", "methotrexate", "prednisone"]


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kb() -> Graph:
    g = Graph()
    for path in ONTOLOGY_FILES:
        g.parse(path, format="turtle")
    return g


_STORES: dict[int, tuple[Graph, int, ox.Store]] = {}


def _store(g: Graph) -> ox.Store:
    """The graph in Oxigraph, loaded once (the look-ups below ask hundreds of SPARQL queries; rdflib's
    engine takes ~30 ms a query, Oxigraph well under 1): the same queries, the same answers."""
    kept = _STORES.get(id(g))
    if kept is None or kept[0] is not g or kept[1] != len(g):
        store = ox.Store()
        store.load(g.serialize(format="nt", encoding="utf-8"), format=ox.RdfFormat.N_TRIPLES)
        kept = _STORES[id(g)] = (g, len(g), store)
    return kept[2]


def _term(node) -> URIRef | Literal:
    return URIRef(node.value) if isinstance(node, ox.NamedNode) else Literal(node.value)


def is_instance_of(g: Graph, node, cls) -> bool:
    """node rdf:type/rdfs:subClassOf* cls, asked in SPARQL."""
    return bool(_store(g).query(PREFIXES + f"ASK {{ <{node}> rdf:type/rdfs:subClassOf* <{cls}> }}"))


LABEL_PATTERN = """
    { ?p rdfs:subPropertyOf* skos:prefLabel } UNION { ?p rdfs:subPropertyOf* skos:altLabel }
    UNION { ?p rdfs:subPropertyOf* skos:hiddenLabel }
    ?x ?p ?label ."""


def resolve(g: Graph, name: str, within) -> set:
    """Case-insensitive look-up of a name among the SKOS labels (and their sub-properties,
    e.g. bx:brandName) of the members of `within` (a class or a list of classes)."""
    classes = within if isinstance(within, (list, tuple)) else [within]
    found = set()
    for cls in classes:
        q = PREFIXES + f"""
            SELECT DISTINCT ?x WHERE {{
                VALUES ?name {{ {ox.Literal(name)} }}
                {LABEL_PATTERN}
                FILTER (lcase(str(?label)) = lcase(?name))
                ?x rdf:type/rdfs:subClassOf* <{cls}> .
            }}"""
        rows = _store(g).query(q)
        found |= {_term(row["x"]) for row in rows}
    return found


# ---------------------------------------------------------------------------------------------
# 1. Parsing
# ---------------------------------------------------------------------------------------------

def test_ontology_files_present():
    names = {p.name for p in ONTOLOGY_FILES}
    for expected in ("core.ttl", "drugs.ttl", "disease.ttl", "section-v.ttl", "policy.ttl"):
        assert expected in names


@pytest.mark.parametrize("path", ONTOLOGY_FILES, ids=lambda p: p.name)
def test_file_parses(path: Path):
    g = Graph()
    g.parse(path, format="turtle")
    assert len(g) > 0


# ---------------------------------------------------------------------------------------------
# Vocabulary: every IRI the other parts depend on is declared / present
# ---------------------------------------------------------------------------------------------

DECLARATION_TYPES = {OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty}

CRITERIA_VOCABULARY = [
    "Criterion", "Pathway", "shape", "openShape", "allOf", "anyOf", "appliesTo", "approvalMonths",
    "otherwise", "denyWhenNotMet", "referral", "referralPolicy", "criterion", "policySentence",
    "noteShape", "warningCode", "asksFor", "derivedFromField", "PriorAuthorizationRequest",
    "InitialRequest", "ContinuationRequest", "brandName",
]

ENUMERATION_IRIS = [
    "Ph-positive", "Ph-negative", "Ph-ph-like", "Ph-unknown",
    "DiseaseStatus-newly-diagnosed", "DiseaseStatus-complete-remission", "DiseaseStatus-relapsed",
    "DiseaseStatus-refractory", "MRD-positive", "MRD-negative", "MRD-unavailable",
    "Phase-induction", "Phase-consolidation", "Phase-maintenance", "Phase-post-consolidation",
    "Mode-single-agent", "Mode-combination", "Mode-alternating", "LOB-commercial", "LOB-HIM",
    "LOB-medicaid", "Formulary-formulary", "Formulary-non-formulary", "AgeGroup-pediatric",
    "AgeGroup-adult", "WeightBand-fixed-dose", "WeightBand-bsa-based",
]


def test_every_architecture_bx_term_is_declared_in_core():
    core = Graph().parse(ONTOLOGY_DIR / "core.ttl", format="turtle")
    terms = set(re.findall(r"\bbx:([A-Za-z][A-Za-z0-9_]*)", ARCHITECTURE_MD.read_text(encoding="utf-8")))
    terms |= set(CRITERIA_VOCABULARY)
    undeclared = sorted(t for t in terms if not set(core.objects(BX[t], RDF.type)) & DECLARATION_TYPES)
    assert not undeclared, f"bx: terms not declared in core.ttl: {undeclared}"


def test_every_bx_term_used_in_the_kb_is_declared(kb):
    used = {t for triple in kb for t in triple if isinstance(t, URIRef) and str(t).startswith(str(BX))}
    undeclared = sorted(str(t) for t in used if not set(kb.objects(t, RDF.type)) & DECLARATION_TYPES)
    assert not undeclared, undeclared


def test_core_terms_are_documented():
    core = Graph().parse(ONTOLOGY_DIR / "core.ttl", format="turtle")
    no_domain_or_range = {BX.describedIn}  # any node -> a named graph
    for decl in DECLARATION_TYPES:
        for term in core.subjects(RDF.type, decl):
            if not str(term).startswith(str(BX)):
                continue
            assert core.value(term, RDFS.label) is not None, f"no rdfs:label: {term}"
            assert core.value(term, RDFS.comment) is not None, f"no rdfs:comment: {term}"
            if decl in (OWL.ObjectProperty, OWL.DatatypeProperty) and term not in no_domain_or_range:
                assert core.value(term, RDFS.domain) is not None, f"no rdfs:domain: {term}"
                assert core.value(term, RDFS.range) is not None, f"no rdfs:range: {term}"
    for p in (BX.allOf, BX.anyOf, BX.withNames, BX.consultingSpecialtyNames):
        assert core.value(p, RDFS.range) == RDF.List, p
    assert (BX.Pathway, RDFS.subClassOf, BX.Criterion) in core
    assert (BX.policySentence, RDFS.subPropertyOf, RDFS.comment) in core
    assert (BX.InitialRequest, OWL.disjointWith, BX.ContinuationRequest) in core


def test_architecture_kb_iris_exist(kb):
    tokens = re.findall(r"\bkb:([A-Za-z][A-Za-z0-9_.-]*)", ARCHITECTURE_MD.read_text(encoding="utf-8"))
    names = {t.rstrip(".-") for t in tokens if "..." not in t}
    names |= set(ENUMERATION_IRIS)
    missing = sorted(n for n in names if (KB[n], RDF.type, None) not in kb)
    assert not missing, missing


def test_every_individual_has_a_label(kb):
    unlabelled = []
    for s in set(kb.subjects(RDF.type, OWL.NamedIndividual)):
        if not (kb.value(s, SKOS.prefLabel) or kb.value(s, RDFS.label)):
            unlabelled.append(str(s))
    assert not unlabelled, unlabelled
    # every kb:/cp: subject that is typed at all is a named individual or a SKOS scheme
    for s in set(kb.subjects(RDF.type, None)):
        if isinstance(s, URIRef) and str(s).startswith((str(KB), str(CP))):
            if (s, RDF.type, SKOS.ConceptScheme) in kb:
                continue
            if (s, RDF.type, BX.Criterion) in kb:  # criteria.ttl (not this file's concern)
                continue
            assert (s, RDF.type, OWL.NamedIndividual) in kb, f"not an owl:NamedIndividual: {s}"


def test_enumerations_have_contract_notations(kb):
    expected = {
        "scheme-ph-status": {"positive", "negative", "ph-like", "unknown"},
        "scheme-disease-status": {"newly-diagnosed", "complete-remission", "relapsed", "refractory"},
        "scheme-mrd-status": {"positive", "negative", "unavailable"},
        "scheme-phase": {"induction", "consolidation", "maintenance", "post-consolidation"},
        "scheme-mode": {"single-agent", "combination", "alternating"},
        "scheme-line-of-business": {"commercial", "HIM", "medicaid"},
        "scheme-formulary-status": {"formulary", "non-formulary"},
        "scheme-age-group": {"pediatric", "adult"},
        "scheme-weight-band": {"fixed-dose", "bsa-based"},
    }
    for scheme, notations in expected.items():
        members = set(kb.subjects(SKOS.inScheme, KB[scheme]))
        assert {str(kb.value(m, SKOS.notation)) for m in members} == notations, scheme
        for m in members:  # the IRI is the architecture's prefix + the contract value
            assert str(m).endswith(str(kb.value(m, SKOS.notation))), m


def test_enumeration_classes(kb):
    assert is_instance_of(kb, KB["Ph-ph-like"], BX.PhNegativeStatus)
    assert is_instance_of(kb, KB["Ph-ph-like"], BX.PhLikeStatus)
    assert is_instance_of(kb, KB["Ph-negative"], BX.PhNegativeStatus)
    assert not is_instance_of(kb, KB["Ph-negative"], BX.PhLikeStatus)
    assert is_instance_of(kb, KB["Ph-positive"], BX.PhPositiveStatus)
    for value in ("Ph-unknown",):
        assert not is_instance_of(kb, KB[value], BX.PhPositiveStatus)
        assert not is_instance_of(kb, KB[value], BX.PhNegativeStatus)
        assert is_instance_of(kb, KB[value], BX.PhiladelphiaStatus)
    assert is_instance_of(kb, KB["DiseaseStatus-complete-remission"], BX.RemissionStatus)
    for value in ("DiseaseStatus-relapsed", "DiseaseStatus-refractory"):
        assert is_instance_of(kb, KB[value], BX.RelapsedOrRefractoryStatus)
    assert is_instance_of(kb, KB["MRD-positive"], BX.MRDPositiveStatus)
    for value in ("MRD-negative", "MRD-unavailable"):
        assert is_instance_of(kb, KB[value], BX.MRDNegativeOrUnavailableStatus)


def test_thresholds_are_data(kb):
    assert kb.value(KB.InfantALL, BX.diagnosedBeforeAgeMonths).toPython() == 12
    assert float(kb.value(KB["MRD-positive"], BX.labelThresholdPercent).toPython()) == 0.1
    assert kb.value(KB["AgeGroup-pediatric"], BX.ageYearsBelow).toPython() == 18
    assert kb.value(KB["AgeGroup-adult"], BX.ageYearsAtLeast).toPython() == 18
    assert float(kb.value(KB["WeightBand-fixed-dose"], BX.weightKgAtLeast).toPython()) == 45
    assert float(kb.value(KB["WeightBand-bsa-based"], BX.weightKgBelow).toPython()) == 45
    assert kb.value(KB["CP.PHAR.312"], BX.labelChangeWindowMonths).toPython() == 6
    assert kb.value(KB["unit-mcg-per-m2-per-day"], BX.perBodySurfaceArea).toPython() is True
    assert kb.value(KB["unit-mcg-per-day"], BX.perBodySurfaceArea).toPython() is False
    assert str(kb.value(KB["unit-mcg-per-day"], BX.contractSpelling)) == "mcg/day"
    assert str(kb.value(KB["unit-mcg-per-m2-per-day"], BX.contractSpelling)) == "mcg/m2/day"
    assert str(kb.value(KB["unit-mcg-per-day"], BX.ucum)) == "ug/d"
    assert str(kb.value(KB["unit-mcg-per-m2-per-day"], BX.ucum)) == "ug/(m2.d)"


# ---------------------------------------------------------------------------------------------
# 2 + 4. HermiT: consistency and classification of regimens by components
# ---------------------------------------------------------------------------------------------

TEST_REGIMENS = {
    "regimen-pomp-all-four": ["mercaptopurine", "vincristine", "methotrexate", "prednisone"],
    "regimen-pomp-two": ["mercaptopurine", "vincristine"],
    "regimen-pomp-plus-tki": ["mercaptopurine", "vincristine", "methotrexate", "prednisone", "imatinib"],
    "regimen-interfant-calaspargase": ["prednisone", "dexamethasone", "vincristine", "cytarabine",
                                       "daunorubicin", "methotrexate", "calaspargase"],
    "regimen-interfant-no-asparaginase": ["prednisone", "dexamethasone", "vincristine", "cytarabine",
                                          "daunorubicin", "methotrexate"],
}


def _t_box_uses_only_owl2_datatypes_besides_xsd_date(g: Graph) -> None:
    """HermiT runs with --ignoreUnsupportedDatatypes. Make sure that only skips what it must:
    xsd:date, the datatype of the request-graph date properties (not in the OWL 2 datatype map)."""
    unsupported = {XSD.date, XSD.gYearMonth, XSD.gYear, XSD.time, XSD.duration}

    def is_annotation(p) -> bool:
        return any((q, RDF.type, OWL.AnnotationProperty) in g
                   for q in g.transitive_objects(p, RDFS.subPropertyOf))

    for prop, rng in g.subject_objects(RDFS.range):
        if rng in unsupported and not is_annotation(prop):
            assert rng == XSD.date and (prop, RDF.type, OWL.DatatypeProperty) in g, (prop, rng)
    for s, p, o in g:
        if isinstance(o, Literal) and o.datatype in unsupported:
            assert is_annotation(p), f"data assertion with a datatype HermiT does not support: {s} {p} {o}"


@pytest.fixture(scope="module")
def reasoned(tmp_path_factory, kb):
    if shutil.which("java") is None:
        pytest.skip("java not installed: HermiT cannot run")
    owlready2 = pytest.importorskip("owlready2")

    g = Graph()
    for triple in kb:
        g.add(triple)
    _t_box_uses_only_owl2_datatypes_besides_xsd_date(g)
    for name, components in TEST_REGIMENS.items():
        g.add((TEST[name], RDF.type, OWL.NamedIndividual))
        g.add((TEST[name], RDF.type, BX.Regimen))
        for c in components:
            g.add((TEST[name], BX.hasComponent, KB[c]))

    path = tmp_path_factory.mktemp("owl") / "kb.nt"
    g.serialize(destination=str(path), format="nt", encoding="utf-8")

    world = owlready2.World()
    world.get_ontology(path.as_uri()).load()
    java = owlready2.JAVA_EXE
    owlready2.JAVA_EXE = str(_quick_java(path.parent, shutil.which("java")))
    try:
        owlready2.sync_reasoner(world, infer_property_values=False, debug=0,
                                ignore_unsupported_datatypes=True)
    except owlready2.OwlReadyInconsistentOntologyError as exc:  # pragma: no cover - the failure
        pytest.fail(f"HermiT: the knowledge base is inconsistent: {exc}")
    finally:
        owlready2.JAVA_EXE = java
    return world


def _quick_java(where: Path, java: str) -> Path:
    """`java` with the JVM flags lint gives HermiT (reasoner/authoring/hermit.py `JVM`: the first JIT
    tier only, one GC thread): a run this short spends most of its CPU compiling Java, and HermiT's
    answers do not depend on it. owlready2 takes no JVM flags but its `JAVA_EXE`."""
    from reasoner.authoring.hermit import JVM

    script = where / "java"
    flags = " ".join(f for f in JVM if not f.startswith("-Xmx"))  # owlready2 gives its own heap
    script.write_text(f'#!/bin/sh\nexec "{java}" {flags} "$@"\n')
    script.chmod(0o755)
    return script


def _instances(world, cls_iri: str) -> set[str]:
    cls = world[cls_iri]
    assert cls is not None, cls_iri
    return {i.iri for i in cls.instances(world=world)}


def test_hermit_consistent(reasoned):
    unsatisfiable = [c.iri for c in reasoned.inconsistent_classes()]
    assert not unsatisfiable, f"unsatisfiable classes: {unsatisfiable}"


def test_hermit_classifies_pomp_by_components(reasoned):
    pomp = _instances(reasoned, str(BX.POMPRegimen))
    assert str(TEST["regimen-pomp-all-four"]) in pomp
    assert str(TEST["regimen-pomp-plus-tki"]) in pomp
    assert str(TEST["regimen-pomp-two"]) not in pomp
    assert str(KB.POMP) in pomp  # the named regimen is a POMP regimen by its own components
    assert str(TEST["regimen-interfant-calaspargase"]) not in pomp


def test_hermit_classifies_interfant_by_components(reasoned):
    interfant = _instances(reasoned, str(BX.InterfantLikeRegimen))
    assert str(TEST["regimen-interfant-calaspargase"]) in interfant
    assert str(TEST["regimen-interfant-no-asparaginase"]) not in interfant
    assert str(TEST["regimen-pomp-all-four"]) not in interfant
    assert str(KB.InterfantRegimen) in interfant


def test_hermit_tkis_through_hierarchy(reasoned):
    tkis = _instances(reasoned, str(BX.TyrosineKinaseInhibitor))
    for name in TKIS:
        assert str(KB[name]) in tkis
    for name in POMP_COMPONENTS + ["blinatumomab"]:
        assert str(KB[name]) not in tkis


# ---------------------------------------------------------------------------------------------
# 3. TKIs through the class hierarchy
# ---------------------------------------------------------------------------------------------

def test_tkis_are_tkis_through_the_class_hierarchy(kb):
    for name in TKIS + OTHER_TKIS:
        assert is_instance_of(kb, KB[name], BX.TyrosineKinaseInhibitor), name
        # recognisable only through the hierarchy: never typed with the TKI class directly
        assert (KB[name], RDF.type, BX.TyrosineKinaseInhibitor) not in kb
        assert is_instance_of(kb, KB[name], BX.Drug), name


def test_no_pomp_component_is_a_tki(kb):
    components = set(kb.objects(KB.POMP, BX.hasComponent))
    assert components == {KB[c] for c in POMP_COMPONENTS}
    assert set(kb.objects(KB.POMP, BX.recognisedByComponent)) == components
    for c in components:
        assert not is_instance_of(kb, c, BX.TyrosineKinaseInhibitor), c
        assert is_instance_of(kb, c, BX.Drug), c
    assert not is_instance_of(kb, KB.blinatumomab, BX.TyrosineKinaseInhibitor)
    assert is_instance_of(kb, KB.blinatumomab, BX.BispecificTCellEngager)
    assert is_instance_of(kb, KB.blinatumomab, BX.Antineoplastic)


def test_only_the_bcr_abl1_tkis_are_tkis(kb):
    rows = kb.query(PREFIXES + """
        SELECT ?d WHERE { ?d rdf:type/rdfs:subClassOf* bx:TyrosineKinaseInhibitor }""")
    assert {r.d for r in rows} == {KB[n] for n in TKIS + OTHER_TKIS}


def test_interfant_regimen(kb):
    comps = set(kb.objects(KB.InterfantRegimen, BX.hasComponent))
    alt = KB["pegaspargase-or-calaspargase"]
    assert comps == {KB.prednisone, KB.dexamethasone, KB.vincristine, KB.cytarabine,
                     KB.daunorubicin, KB.methotrexate, alt}
    assert set(kb.objects(KB.InterfantRegimen, BX.recognisedByComponent)) == comps
    assert set(kb.objects(alt, BX.alternativeAgent)) == {KB.pegaspargase, KB.calaspargase}
    assert (alt, RDF.type, BX.AgentAlternative) in kb
    assert set(kb.objects(KB.InterfantRegimen, BX.intrathecalComponent)) == \
        {KB.cytarabine, KB.prednisone, KB.methotrexate}
    for protocol in ("Interfant-06", "Interfant-21"):
        assert (KB[protocol], SKOS.broader, KB.InterfantRegimen) in kb
        assert (KB[protocol], BX.hasComponent, None) not in kb
        assert (KB[protocol], RDF.type, BX.NamedRegimen) in kb


# ---------------------------------------------------------------------------------------------
# 5. Label look-up (case-insensitive; brand names via bx:brandName ⊑ skos:altLabel)
# ---------------------------------------------------------------------------------------------

AGENTS = [BX.Drug, BX.NamedRegimen]


def test_brand_names_resolve(kb):
    assert resolve(kb, "Gleevec", AGENTS) == {KB.imatinib}
    assert resolve(kb, "SPRYCEL", AGENTS) == {KB.dasatinib}
    assert resolve(kb, "tasigna", AGENTS) == {KB.nilotinib}
    assert resolve(kb, "Bosulif", AGENTS) == {KB.bosutinib}
    assert resolve(kb, "ICLUSIG", AGENTS) == {KB.ponatinib}
    assert resolve(kb, "Scemblix", AGENTS) == {KB.asciminib}
    assert resolve(kb, "Blincyto", AGENTS) == {KB.blinatumomab}
    assert resolve(kb, "Oncaspar", AGENTS) == {KB.pegaspargase}
    assert resolve(kb, "Asparlas", AGENTS) == {KB.calaspargase}
    assert (BX.brandName, RDFS.subPropertyOf, SKOS.altLabel) in kb


def test_other_names_resolve(kb):
    assert resolve(kb, "Imatinib", AGENTS) == {KB.imatinib}
    assert resolve(kb, "6-MP", AGENTS) == {KB.mercaptopurine}
    assert resolve(kb, "6-mercaptopurine", AGENTS) == {KB.mercaptopurine}
    assert resolve(kb, "calaspargase pegol", AGENTS) == {KB.calaspargase}
    assert resolve(kb, "PEG-asparaginase", AGENTS) == {KB.pegaspargase}
    assert resolve(kb, "thioguanine", AGENTS) == {KB.tioguanine}
    assert resolve(kb, "pomp", AGENTS) == {KB.POMP}
    assert resolve(kb, "Interfant", AGENTS) == {KB.InterfantRegimen}
    assert resolve(kb, "interfant regimen", AGENTS) == {KB.InterfantRegimen}
    assert resolve(kb, "Interfant-21", AGENTS) == {KB["Interfant-21"]}
    assert resolve(kb, "INTERFANT-06", AGENTS) == {KB["Interfant-06"]}
    assert resolve(kb, "aspirin", AGENTS) == set()


def test_generic_names_are_lowercase_preflabels(kb):
    for drug in kb.query(PREFIXES + "SELECT ?d WHERE { ?d rdf:type/rdfs:subClassOf* bx:Drug }"):
        labels = list(kb.objects(drug.d, SKOS.prefLabel))
        assert len(labels) == 1, drug.d
        assert str(labels[0]) == str(labels[0]).lower(), labels[0]


def test_conditions_resolve(kb):
    for name in ("B-ALL", "b-all", "B-cell ALL", "B-cell acute lymphoblastic leukemia",
                 "B-cell precursor acute lymphoblastic leukemia"):
        assert resolve(kb, name, BX.Disease) == {KB["B-ALL"]}, name
    assert resolve(kb, "T-ALL", BX.Disease) == {KB["T-ALL"]}
    assert resolve(kb, "AML", BX.Disease) == {KB.AML}
    assert resolve(kb, "acute lymphoblastic leukemia", BX.Disease) == {KB.ALL}
    assert is_instance_of(kb, KB["B-ALL"], BX.BCellPrecursorALL)
    assert is_instance_of(kb, KB["B-ALL"], BX.Disease)
    for other in ("ALL", "T-ALL", "AML", "CLL", "CML", "DLBCL"):
        assert not is_instance_of(kb, KB[other], BX.BCellPrecursorALL), other
        assert is_instance_of(kb, KB[other], BX.Disease), other


def test_specialties_resolve(kb):
    qualifying = {
        "hematology": KB["Specialty-hematology"],
        "hematologist": KB["Specialty-hematology"],
        "oncology": KB["Specialty-oncology"],
        "Oncologist": KB["Specialty-oncology"],
        "hematology-oncology": KB["Specialty-hematology-oncology"],
        "heme/onc": KB["Specialty-hematology-oncology"],
        "Hematology/Oncology": KB["Specialty-hematology-oncology"],
        "pediatric hematology-oncology": KB["Specialty-pediatric-hematology-oncology"],
        "medical oncology": KB["Specialty-medical-oncology"],
    }
    for name, iri in qualifying.items():
        assert resolve(kb, name, BX.MedicalSpecialty) == {iri}, name
        assert is_instance_of(kb, iri, BX.OncologySpecialty) or is_instance_of(kb, iri, BX.HematologySpecialty)
    for both in ("Specialty-hematology-oncology", "Specialty-pediatric-hematology-oncology"):
        assert is_instance_of(kb, KB[both], BX.OncologySpecialty)
        assert is_instance_of(kb, KB[both], BX.HematologySpecialty)
    for name in ("internal medicine", "family medicine", "pediatrics"):
        (iri,) = resolve(kb, name, BX.MedicalSpecialty)
        assert not is_instance_of(kb, iri, BX.OncologySpecialty), name
        assert not is_instance_of(kb, iri, BX.HematologySpecialty), name


@pytest.mark.parametrize("category", [AGENTS, [BX.Disease], [BX.MedicalSpecialty]],
                         ids=["agents", "diseases", "specialties"])
def test_labels_are_unambiguous(kb, category):
    # the SKOS labels and their sub-properties, plus rdfs:label and skos:notation (which a
    # look-up may also consult)
    rows = []
    for cls in category:
        rows += list(kb.query(PREFIXES + f"""
            SELECT ?x ?label WHERE {{
                {{ {LABEL_PATTERN} }} UNION {{ ?x rdfs:label|skos:notation ?label }}
                ?x rdf:type/rdfs:subClassOf* <{cls}> .
            }}"""))
    owners: dict[str, set] = {}
    for row in rows:
        owners.setdefault(str(row.label).lower(), set()).add(row.x)
    clashes = {label: xs for label, xs in owners.items() if len(xs) > 1}
    assert not clashes, clashes


# ---------------------------------------------------------------------------------------------
# 6. Codes: only those that docs/codes.md confirms
# ---------------------------------------------------------------------------------------------

def _table_rows(text: str):
    """Yield (header_cells, cells) for every data row of every markdown table."""
    header = None
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
        elif set("".join(cells)) <= set("-: "):
            continue
        else:
            yield header, cells


def allowed_codes(text: str) -> dict[str, set[str]]:
    allowed = {"NCIt": set(), "ATC": set(), "RxNorm": set(), "ICD-10-CM": set(), "ICD-O-3": set(),
               "HCPCS": set(), "NDC": set()}
    atc_re = re.compile(r"\b[A-Z]\d{2}[A-Z]{2}(?:\d{2})?\b")
    for header, cells in _table_rows(text):
        if header[:2] == ["system", "code"]:
            system = {"ncit": "NCIt", "icd-10-cm": "ICD-10-CM", "icd-o-3": "ICD-O-3", "rxnorm": "RxNorm",
                      "hcpcs": "HCPCS", "ndc (11-digit)": "NDC"}.get(cells[0].lower())
            if system:
                allowed[system].add(cells[1])
        elif header and header[0] == "drug":
            for col, cell in zip(header, cells):
                if "unconfirmed" in cell.lower():
                    cell = cell.lower().split("unconfirmed")[0]
                if col == "atc":
                    allowed["ATC"].update(atc_re.findall(cell))
                elif col.startswith("rxnorm"):
                    allowed["RxNorm"].update(re.findall(r"\b\d+\b", cell))
                elif col == "ncit":
                    allowed["NCIt"].update(re.findall(r"\bC\d+\b", cell))
    # ATC codes stated in prose (e.g. "ATC L01EA = BCR-ABL ...", "Asciminib is L01EA06")
    # (sentence by sentence, skipping any sentence that calls something unconfirmed)
    prose = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("|"))
    for sentence in re.split(r"(?<=[.;])\s+", prose):
        if "unconfirmed" not in sentence.lower() and "wrong" not in sentence.lower():
            allowed["ATC"].update(atc_re.findall(sentence))
    return allowed


@pytest.fixture(scope="module")
def codes():
    if not CODES_MD.exists():
        pytest.skip(f"{CODES_MD} not found")
    return allowed_codes(CODES_MD.read_text(encoding="utf-8"))


def wrong_codes(text: str) -> set[str]:
    """Codes that codes.md names as wrong ("one public data model gives NCIt TKI codes C2722-C2732
    in sequence; they are wrong"), ranges expanded."""
    out: set[str] = set()
    prose = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("|"))
    for sentence in re.split(r"(?<=\.)\s+(?=[A-Z])", prose):  # whole sentences: "...; they are wrong."
        if "wrong" not in sentence.lower():
            continue
        for first, last in re.findall(r"\bC(\d+)\s*[–-]\s*C(\d+)\b", sentence):
            out.update(f"C{n}" for n in range(int(first), int(last) + 1))
        out.update(re.findall(r"\bC\d+\b", sentence))
    return out


# A source of one's own, per code: a repository and a file in it ("owner/repo path/file.ext"), as
# found with the search tool; the prose around it (a commit, the line) is free.
CITATION = re.compile(r"\b[A-Za-z0-9][\w.-]*/[\w.-]+ (?:[\w.-]+/)*[\w.-]+\.[A-Za-z]{2,5}\b")


def test_codes_md_parser_sanity(codes):
    assert "C8644" in codes["NCIt"] and "C62035" in codes["NCIt"]
    assert "C2722" not in codes["NCIt"]  # named in codes.md as wrong
    assert {"L01EA01", "L01FX07", "L01XC19", "L01EA", "L01EA06"} <= codes["ATC"]
    assert {"282388", "282386", "103"} <= codes["RxNorm"]
    assert {"3002", "5650", "11202"} <= codes["RxNorm"]  # the FHIR table (HL7 mCODE example)
    assert "C91.00" in codes["ICD-10-CM"]
    assert {"C2722", "C2727", "C2732"} <= wrong_codes(CODES_MD.read_text(encoding="utf-8"))
    assert CITATION.search("HL7/fhir-mCODE-ig input/fsh/EX_ExtendedExample.fsh (commit 543477b5)")
    assert CITATION.search("cpicpgx/cpic-schema drug.sql (commit d6937ec)")
    assert not CITATION.search("WHO ATC/DDD index (whocc.no)") and not CITATION.search("docs/codes.md")


def _code_iris(kb) -> dict[str, dict[URIRef, str]]:
    used: dict[str, dict[URIRef, str]] = {system: {} for system in CODE_BASES}
    for term in {t for triple in kb for t in triple if isinstance(t, URIRef)}:
        for system, base in CODE_BASES.items():
            if str(term).startswith(base):
                used[system][term] = str(term)[len(base):]
    return used


def test_every_code_iri_is_confirmed_in_codes_md_or_cited(kb, codes):
    """A code is in docs/codes.md, or its dcterms:source cites a repository file that shows it;
    never one codes.md calls wrong. An uncited code outside codes.md fails, as before."""
    wrong = wrong_codes(CODES_MD.read_text(encoding="utf-8"))
    used = _code_iris(kb)
    assert used["NCIt"] and used["ATC"] and used["RxNorm"] and used["ICD-10-CM"]
    for system, found in used.items():
        assert not {c for c in found.values() if c in wrong}, f"{system} codes codes.md calls wrong"
        uncited = sorted(code for term, code in found.items() if code not in codes[system]
                         and not any(CITATION.search(str(src)) for src in kb.objects(term, DCTERMS.source)))
        assert not uncited, f"{system} codes neither in docs/codes.md nor cited (repository and file): {uncited}"


def test_cited_codes_are_few_and_each_cited_once(kb, codes):
    # the codes that rest on a citation of their own, not on codes.md (reviewed one by one)
    cited = {code for system, found in _code_iris(kb).items() for code in found.values() if code not in codes[system]}
    assert {"3639", "4179", "121191", "6313", "L01AA01", "L01CB01", "C405"} <= cited
    for system, found in _code_iris(kb).items():
        for term, code in found.items():
            if code in codes[system]:
                continue
            assert len(list(kb.objects(term, DCTERMS.source))) == 1, term
            assert len(list(kb.objects(term, SKOS.notation))) == 1, term


def test_code_iris_carry_their_notation_and_source(kb):
    for term in {o for o in kb.objects(None, None) if isinstance(o, URIRef)}:
        for base in CODE_BASES.values():
            if str(term).startswith(base):
                assert str(kb.value(term, SKOS.notation)) == str(term)[len(base):], term
                assert kb.value(term, DCTERMS.source) is not None, term
                assert kb.value(term, DCTERMS.description) is not None, term
                # code IRIs must not be found by label look-ups
                assert kb.value(term, SKOS.prefLabel) is None, term


def test_literal_codes_are_confirmed(kb, codes):
    for value in kb.objects(None, BX.icdO3):
        assert str(value) in codes["ICD-O-3"], value
    for value in kb.objects(None, BX.ndc):
        assert str(value) in codes["NDC"], value
    assert str(kb.value(KB["HCPCS-J9039"], SKOS.notation)) in codes["HCPCS"]


def test_unconfirmed_codes_are_absent(kb):
    # codes.md: Tasigna brand, ponatinib (both), mercaptopurine NCIt unconfirmed, and no source
    # found since; vincristine's RxNorm ingredient, unconfirmed in the drug table, is confirmed
    # by codes.md's FHIR table (11202, HL7 mCODE).
    def codes_of(drug, base):
        return [o for o in kb.objects(KB[drug], None) if isinstance(o, URIRef) and str(o).startswith(base)]
    assert len(codes_of("nilotinib", RXNORM)) == 1  # ingredient only
    assert codes_of("ponatinib", RXNORM) == []
    assert codes_of("vincristine", RXNORM) == [URIRef(RXNORM + "11202")]
    assert codes_of("mercaptopurine", NCIT) == []
    assert codes_of("tioguanine", NCIT) == []
    for drug in ("pegaspargase", "calaspargase"):
        assert not any(codes_of(drug, base) for base in CODE_BASES.values())


# ---------------------------------------------------------------------------------------------
# 7. Section V as data
# ---------------------------------------------------------------------------------------------

SCHEDULE_QUERY = PREFIXES + """
SELECT ?cycle ?phase ?group ?firstDay ?lastDay ?amount ?unit ?freeDays WHERE {
  ?schedule a bx:DosingSchedule ;
            bx:indication ?indication ;
            bx:weightBand ?band ;
            bx:cycleGroup ?g .
  ?g skos:prefLabel ?group ; bx:hasCycle/bx:cycleNumber ?cycle ;
     bx:inCourseStage/bx:phase ?phase ; bx:segment ?s .
  ?s bx:firstDay ?firstDay ; bx:lastDay ?lastDay .
  OPTIONAL { ?s bx:doseAmount ?amount ; bx:amountUnit/bx:contractSpelling ?unit }
  OPTIONAL { ?s bx:treatmentFreeDays ?freeDays }
} ORDER BY ?cycle ?firstDay
"""

INDICATIONS = ["indication-mrd-positive", "indication-relapsed-refractory",
               "indication-consolidation-ph-negative"]
BANDS = ["WeightBand-fixed-dose", "WeightBand-bsa-based"]


def schedule(kb, indication: str, band: str) -> list[dict]:
    rows = kb.query(SCHEDULE_QUERY, initBindings={"indication": KB[indication], "band": KB[band]})
    def value(term):
        return None if term is None else term if isinstance(term, URIRef) else term.toPython()
    return [{k: value(row[k]) for k in
             ("cycle", "phase", "group", "firstDay", "lastDay", "amount", "unit", "freeDays")}
            for row in rows]


def test_schedule_relapsed_refractory_fixed_dose(kb):
    rows = schedule(kb, "indication-relapsed-refractory", "WeightBand-fixed-dose")
    assert sorted({r["cycle"] for r in rows}) == list(range(1, 10))
    cycle1 = [r for r in rows if r["cycle"] == 1]
    assert [(r["firstDay"], r["lastDay"], r["amount"], r["unit"], r["freeDays"]) for r in cycle1] == [
        (1, 7, 9, "mcg/day", None), (8, 28, 28, "mcg/day", None), (29, 42, None, None, 14)]
    assert {r["phase"] for r in cycle1} == {KB["Phase-induction"]}
    assert {r["group"] for r in cycle1} == {"Induction cycle 1"}
    for n in (3, 4, 5):
        assert {r["phase"] for r in rows if r["cycle"] == n} == {KB["Phase-consolidation"]}
    for n in (6, 7, 8, 9):
        cyc = [(r["firstDay"], r["lastDay"], r["amount"], r["freeDays"]) for r in rows if r["cycle"] == n]
        assert cyc == [(1, 28, 28, None), (29, 84, None, 56)]
        assert {r["phase"] for r in rows if r["cycle"] == n} == {KB["Phase-continued-therapy"]}


def test_schedule_relapsed_refractory_bsa_based(kb):
    rows = schedule(kb, "indication-relapsed-refractory", "WeightBand-bsa-based")
    assert sorted({r["cycle"] for r in rows}) == list(range(1, 10))
    cycle1 = [(r["firstDay"], r["lastDay"], r["amount"], r["unit"]) for r in rows
              if r["cycle"] == 1 and r["amount"] is not None]
    assert cycle1 == [(1, 7, 5, "mcg/m2/day"), (8, 28, 15, "mcg/m2/day")]


def test_schedules_other_indications(kb):
    for band, amount in (("WeightBand-fixed-dose", 28), ("WeightBand-bsa-based", 15)):
        mrd = schedule(kb, "indication-mrd-positive", band)
        assert sorted({r["cycle"] for r in mrd}) == [1, 2, 3, 4]
        assert {r["amount"] for r in mrd if r["amount"] is not None} == {amount}
        cons = schedule(kb, "indication-consolidation-ph-negative", band)
        assert sorted({r["cycle"] for r in cons}) == [1]
        assert [(r["firstDay"], r["lastDay"], r["amount"], r["freeDays"]) for r in cons] == [
            (1, 28, amount, None), (29, 42, None, 14)]
        assert {r["phase"] for r in cons} == {KB["Phase-consolidation"]}


def test_maximum_dose_is_28_mcg_per_day_everywhere(kb):
    indications = set(kb.subjects(RDF.type, BX.Indication))
    assert indications == {KB[i] for i in INDICATIONS}
    assert set(kb.objects(KB.blinatumomab, BX.hasIndication)) == indications
    for ind in indications:
        assert float(kb.value(ind, BX.maximumDailyDoseMcg).toPython()) == 28, ind
    assert float(kb.value(KB.blinatumomab, BX.maximumDailyDoseMcg).toPython()) == 28
    for seg in kb.subjects(BX.amountUnit, KB["unit-mcg-per-day"]):
        assert float(kb.value(seg, BX.doseAmount).toPython()) <= 28, seg


def test_schedule_structure_is_consistent(kb):
    for ind in INDICATIONS:
        stages = sorted(kb.objects(KB[ind], BX.courseStage), key=lambda s: kb.value(s, BX.order).toPython())
        expected_first = 1
        for stage in stages:
            first, last = (kb.value(stage, p).toPython() for p in (BX.firstCycle, BX.lastCycle))
            assert first == expected_first, stage
            assert kb.value(stage, BX.cycleCount).toPython() == last - first + 1, stage
            assert kb.value(stage, BX.upTo) is not None and kb.value(stage, BX.phase) is not None
            expected_first = last + 1
        for band in BANDS:
            schedules = list(kb.query(PREFIXES + """SELECT ?s WHERE {
                ?s a bx:DosingSchedule ; bx:indication ?i ; bx:weightBand ?b }""",
                initBindings={"i": KB[ind], "b": KB[band]}))
            assert len(schedules) == 1, (ind, band)
            sched = schedules[0].s
            unit = KB["unit-mcg-per-day"] if band == "WeightBand-fixed-dose" else KB["unit-mcg-per-m2-per-day"]
            cycles = []
            for group in kb.objects(sched, BX.cycleGroup):
                first, last = (kb.value(group, p).toPython() for p in (BX.firstCycle, BX.lastCycle))
                numbers = sorted(kb.value(c, BX.cycleNumber).toPython() for c in kb.objects(group, BX.hasCycle))
                assert numbers == list(range(first, last + 1)), group
                cycles += numbers
                stage = kb.value(group, BX.inCourseStage)
                assert stage in stages, group
                assert kb.value(stage, BX.firstCycle).toPython() <= first <= last <= kb.value(stage, BX.lastCycle).toPython()
                segments = sorted(kb.objects(group, BX.segment), key=lambda s: kb.value(s, BX.firstDay).toPython())
                day = 1
                for seg in segments:
                    d1, d2 = kb.value(seg, BX.firstDay).toPython(), kb.value(seg, BX.lastDay).toPython()
                    assert d1 == day and d2 >= d1, seg
                    day = d2 + 1
                    if (seg, RDF.type, BX.TreatmentFreeInterval) in kb:
                        assert kb.value(seg, BX.treatmentFreeDays).toPython() == d2 - d1 + 1, seg
                    else:
                        assert (seg, RDF.type, BX.DoseSegment) in kb
                        assert kb.value(seg, BX.amountUnit) == unit, seg
                assert kb.value(group, BX.cycleLengthDays).toPython() == day - 1, group
            course_length = kb.value(stages[-1], BX.lastCycle).toPython()
            assert sorted(cycles) == list(range(1, course_length + 1)), (ind, band)


def test_product_and_billing(kb):
    vial = KB["blincyto-35mcg-vial"]
    assert kb.value(vial, BX.productOf) == KB.blinatumomab
    assert float(kb.value(vial, BX.strengthMcg).toPython()) == 35
    assert str(kb.value(vial, BX.ndc)) == "55513016001"
    assert float(kb.value(KB["HCPCS-J9039"], BX.mcgPerBillingUnit).toPython()) == 1


# ---------------------------------------------------------------------------------------------
# Policy administration
# ---------------------------------------------------------------------------------------------

def test_policy_and_version(kb):
    policy = KB["CP.PHAR.312"]
    assert str(kb.value(policy, DCTERMS.identifier)) == "CP.PHAR.312"
    assert kb.value(policy, BX.coversDrug) == KB.blinatumomab
    version = kb.value(policy, BX.currentVersion)
    assert version == CP["version-2024-08"]
    assert str(kb.value(version, DCTERMS.identifier)) == "08.24"
    assert str(kb.value(version, BX.reviewDate)) == "2024-08"
    assert set(kb.objects(policy, BX.lineOfBusiness)) == {KB["LOB-commercial"], KB["LOB-HIM"], KB["LOB-medicaid"]}


def test_referral_policies(kb):
    expected = {
        "CP.CPA.190": "LOB-commercial", "HIM.PA.33": "LOB-HIM", "CP.PMN.255": "LOB-medicaid",
        "HIM.PA.103": "LOB-HIM", "CP.PMN.16": "LOB-medicaid", "CP.CPA.09": "LOB-commercial",
        "HIM.PA.154": "LOB-HIM", "CP.PMN.53": "LOB-medicaid",
    }
    for ident, lob in expected.items():
        iri = KB[f"policy-{ident}"]
        assert is_instance_of(kb, iri, BX.ReferralPolicy), iri
        assert str(kb.value(iri, DCTERMS.identifier)) == ident
        assert kb.value(iri, BX.lineOfBusiness) == KB[lob]
        assert kb.value(iri, RDFS.label) is not None
    for ident in ("CP.CPA.09", "HIM.PA.154", "CP.PMN.53"):
        assert is_instance_of(kb, KB[f"policy-{ident}"], BX.OffLabelUsePolicy)


def test_revision_log_and_label_changes(kb):
    revisions = set(kb.subjects(RDF.type, BX.Revision))
    assert len(revisions) == 7
    assert set(kb.objects(KB["CP.PHAR.312"], BX.hasRevision)) == revisions
    for rev in revisions:
        assert kb.value(rev, DCTERMS.date).datatype == XSD.date
        assert kb.value(rev, DCTERMS.description) is not None
    changes = {str(kb.value(c, DCTERMS.date)): c for c in kb.subjects(RDF.type, BX.LabelChange)}
    assert set(changes) == {"2021-03-24", "2023-04-14", "2024-06-24"}
    for date, change in changes.items():
        assert kb.value(change, BX.reflectedIn) == CP["version-2024-08"]
        assert str(kb.value(kb.value(change, BX.recordedIn), DCTERMS.date)) == date


def test_appendix_c(kb):
    ci = kb.value(KB.blinatumomab, BX.contraindication)
    assert "hypersensitivity to blinatumomab" in str(kb.value(ci, BX.policySentence))
    warnings = " ".join(str(kb.value(w, BX.policySentence)) for w in kb.objects(KB.blinatumomab, BX.boxedWarning))
    assert "cytokine release syndrome" in warnings
    assert "immune effector cell-associated neurotoxicity syndrome" in warnings


# ---------------------------------------------------------------------------------------------
# 8. The ALL drug and regimen vocabulary (issue 12, section 3)
# ---------------------------------------------------------------------------------------------

ALL_REGIMEN_NAMES = {  # a name a prescriber writes -> the KB regimen
    "hyper-CVAD": "hyper-CVAD", "HyperCVAD": "hyper-CVAD", "hyper-CVAD course A": "hyper-CVAD-course-A",
    "hyper-CVAD B": "hyper-CVAD-course-B", "R-hyper-CVAD": "R-hyper-CVAD", "mini-hyper-CVD": "mini-hyper-CVD",
    "mini-HCVD-InO": "mini-hyper-CVD-inotuzumab", "CALGB 8811": "CALGB-8811", "Larson regimen": "CALGB-8811",
    "CALGB 10403": "CALGB-10403", "GRAALL-2005": "GRAALL-2005", "GRAALL-2005/R": "GRAALL-2005-R",
    "GRAAPH-2005": "GRAAPH-2005", "GMALL 07/2003": "GMALL", "PETHEMA ALL-HR-11": "PETHEMA",
    "UKALL14": "UKALL", "UKALL 2011": "UKALL", "AIEOP-BFM ALL 2009": "BFM", "augmented BFM": "augmented-BFM",
    "COG AALL0232": "COG-backbone", "AALL1731": "COG-AALL1731", "EsPhALL2017/COGAALL1631": "EsPhALL",
    "Interfant-99": "Interfant-99", "D-ALBA": "D-ALBA", "hyper-CVAD plus ponatinib": "hyper-CVAD-ponatinib",
    "EWALL-PH-01": "EWALL-PH-01", "FLAG-IDA": "FLAG-IDA", "POMP": "POMP", "Interfant": "InterfantRegimen",
}
ALL_BRANDS = {"Cytoxan": "cyclophosphamide", "Adriamycin": "doxorubicin", "Oncovin": "vincristine",
              "Marqibo": "vincristine", "Cerubidine": "daunorubicin", "Idamycin": "idarubicin", "VePesid": "etoposide",
              "Etopophos": "etoposide", "Ifex": "ifosfamide", "Purixan": "mercaptopurine", "Tabloid": "tioguanine",
              "Xatmep": "methotrexate", "Cytosar": "cytarabine", "Rylaze": "crisantaspase", "Erwinaze": "crisantaspase",
              "Rituxan": "rituximab", "Truxima": "rituximab", "Besponsa": "inotuzumab-ozogamicin",
              "Arranon": "nelarabine", "Clolar": "clofarabine", "Neupogen": "filgrastim", "Scemblix": "asciminib"}


def _closure_components(kb, regimen) -> set:
    out, todo, seen = set(), [regimen], set()
    while todo:
        r = todo.pop()
        if r in seen:
            continue
        seen.add(r)
        out |= set(kb.objects(r, BX.hasComponent))
        todo.extend(kb.objects(r, SKOS.broader))
    return out


def test_all_regimen_names_and_brands_resolve(kb):
    for name, iri in ALL_REGIMEN_NAMES.items():
        assert resolve(kb, name, AGENTS) == {KB[iri]}, name
    for name, iri in ALL_BRANDS.items():
        assert resolve(kb, name, AGENTS) == {KB[iri]}, name
        assert (KB[iri], BX.brandName, None) in kb


def test_every_named_regimen_has_agents(kb):
    for reg in set(kb.subjects(RDF.type, BX.NamedRegimen)):
        components = _closure_components(kb, reg)
        assert len(components) >= 2, reg  # a regimen is more than one agent
        for c in components:
            assert is_instance_of(kb, c, BX.Drug) or (c, RDF.type, BX.AgentAlternative) in kb, (reg, c)
        # a course of a regimen counts by its own agents, never by the whole regimen's
        for whole in kb.objects(reg, BX.partOfRegimen):
            assert (reg, SKOS.broader, whole) not in kb, reg
            assert set(kb.objects(reg, BX.hasComponent)) < _closure_components(kb, whole), reg


def test_hyper_cvad_and_mini_hyper_cvd_components(kb):
    hcvad = {KB[n] for n in ("cyclophosphamide", "vincristine", "doxorubicin", "dexamethasone", "methotrexate",
                             "cytarabine")}
    assert hcvad <= _closure_components(kb, KB["hyper-CVAD"])
    mini = _closure_components(kb, KB["mini-hyper-CVD"])
    assert KB.doxorubicin not in mini and hcvad - {KB.doxorubicin} <= mini  # no anthracycline
    assert _closure_components(kb, KB["R-hyper-CVAD"]) == _closure_components(kb, KB["hyper-CVAD"]) | {KB.rituximab}


def test_ph_positive_regimens_carry_a_tki(kb):
    for name in ("hyper-CVAD-imatinib", "hyper-CVAD-dasatinib", "hyper-CVAD-ponatinib", "GRAAPH-2005", "EsPhALL",
                 "COG-AALL0622", "D-ALBA", "ponatinib-blinatumomab", "GIMEMA-LAL1205", "EWALL-PH-01",
                 "PETHEMA-ALL-Ph08", "UKALL-imatinib"):
        assert any(is_instance_of(kb, c, BX.TyrosineKinaseInhibitor) for c in _closure_components(kb, KB[name])), name
    for name in ("hyper-CVAD", "mini-hyper-CVD", "CALGB-8811", "BFM", "COG-backbone", "POMP", "InterfantRegimen"):
        assert not any(is_instance_of(kb, c, BX.TyrosineKinaseInhibitor) for c in _closure_components(kb, KB[name]))


def test_only_the_policy_regimens_are_recognised_by_components(kb):
    assert set(kb.subjects(BX.recognisedByComponent, None)) == {KB.POMP, KB.InterfantRegimen}


def test_supportive_care_is_known_and_not_counted(kb):
    assert (BX.SupportiveCareAgent, BX.countedAsAgent, Literal(False)) in kb
    for name in ("leucovorin", "mesna", "filgrastim"):
        assert is_instance_of(kb, KB[name], BX.SupportiveCareAgent), name
        assert not is_instance_of(kb, KB[name], BX.Antineoplastic), name


def test_rxnorm_ingredients_map_one_to_one(kb):
    """FHIR MedicationRequest codings map to KB drugs through skos:exactMatch rxnorm:...: each
    RxNorm ingredient names one drug, and each drug has at most one RxNorm ingredient."""
    owners: dict = {}
    for drug, code in kb.subject_objects(SKOS.exactMatch):
        if str(code).startswith(RXNORM):
            assert str(kb.value(code, SKOS.note)) == "RxNorm IN", code
            owners.setdefault(code, set()).add(drug)
    assert all(len(d) == 1 for d in owners.values()), {c: d for c, d in owners.items() if len(d) > 1}
    per_drug: dict = {}
    for code, (drug,) in owners.items():
        per_drug.setdefault(drug, []).append(code)
    assert all(len(c) == 1 for c in per_drug.values()), per_drug
    for name, code in [("cyclophosphamide", "3002"), ("idarubicin", "5650"), ("vincristine", "11202"),
                       ("doxorubicin", "3639"), ("etoposide", "4179"), ("rituximab", "121191")]:
        assert (KB[name], SKOS.exactMatch, URIRef(RXNORM + code)) in kb, name
