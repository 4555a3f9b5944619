"""Test and benchmark tool: start `blincyto serve-fhir` on a free loopback port, and read FHIR forms.

`fhir_server(tmp)` runs the real command in a subprocess (its own store directory and token file),
waits for it with a bounded loop and always stops it. `enabled(questionnaire, response)` evaluates
a Questionnaire's enableWhen / enableBehavior / questionnaire-hidden as FHIR R4 defines them
(written here from the specification, not taken from the service), so the tests check the service's
enableWhen logic with an independent reader.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx

from processes import stop

ROOT = Path(__file__).resolve().parent.parent
READY_S = 120
HIDDEN = "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    client_token: str | None
    clinician_token: str | None
    log: Path
    store: Path | None
    proc: subprocess.Popen

    def client(self, token: str | None = "client", **kwargs: Any) -> httpx.Client:
        value = {"client": self.client_token, "clinician": self.clinician_token}.get(token, token) if token else None
        headers = {"Authorization": f"Bearer {value}"} if value else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kwargs)


def write_tokens(path: Path, client: str, clinician: str) -> None:
    import hashlib

    def h(t: str) -> str:
        return hashlib.sha256(t.encode()).hexdigest()

    path.write_text(json.dumps({"tokens": [
        {"sha256": h(client), "role": "client", "name": "Test EHR"},
        {"sha256": h(clinician), "role": "clinician", "name": "Dr. Test Reviewer",
         "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}},
    ]}))
    path.chmod(0o600)


@contextmanager
def fhir_server(tmp: Path, *, store: bool = True, tokens: bool = True, args: tuple[str, ...] = ()) -> Iterator[Server]:
    port = free_port()
    cmd = [sys.executable, "-m", "reasoner.cli", "serve-fhir", "--port", str(port)]
    client = clinician = None
    store_dir = tmp / f"store-{uuid.uuid4().hex[:6]}" if store else None
    if store_dir is not None:
        cmd += ["--store", str(store_dir)]
    if tokens:
        client, clinician = f"client-{uuid.uuid4().hex}", f"clinician-{uuid.uuid4().hex}"
        token_file = tmp / f"tokens-{port}.json"
        write_tokens(token_file, client, clinician)
        cmd += ["--tokens", str(token_file)]
    cmd += list(args)
    log = tmp / f"server-{port}.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("BLINCYTO_FHIR_TOKEN", None)
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=str(tmp))
        server = Server(f"http://127.0.0.1:{port}", client, clinician, log, store_dir, proc)
        try:
            _wait(server)
            yield server
        finally:
            stop(proc, 30)


def _wait(server: Server) -> None:
    deadline = time.monotonic() + READY_S
    headers = {"Authorization": f"Bearer {server.client_token}"} if server.client_token else {}
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"serve-fhir exited with {server.proc.returncode}: {server.log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + "/metadata", headers=headers, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve-fhir not ready after {READY_S} s")


# ---------------------------------------------------------------------------------------------
# Reading forms
# ---------------------------------------------------------------------------------------------

def flat(items: Any) -> list[dict[str, Any]]:
    out = []
    for item in items or []:
        out.append(item)
        out += flat(item.get("item"))
        for answer in item.get("answer") or []:
            out += flat(answer.get("item"))
    return out


def answers(response: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {i["linkId"]: i["answer"] for i in flat(response.get("item")) if i.get("answer")}


def _value(answer: dict[str, Any]) -> tuple[str, Any]:
    key = next(k for k in answer if k.startswith("value") or k.startswith("answer"))
    value = answer[key]
    kind = key.removeprefix("value").removeprefix("answer")
    if kind == "Coding":
        return kind, (value.get("system"), value.get("code"))
    return kind, value


def _test(condition: dict[str, Any], given: dict[str, list[dict[str, Any]]]) -> bool:
    values = given.get(condition["question"], [])
    op = condition["operator"]
    if op == "exists":
        return bool(values) == condition["answerBoolean"]
    if not values:
        return False  # R4: with no answer, an enableWhen other than exists is false
    kind, expected = _value(condition)
    got = [v for k, v in map(_value, values) if k == kind]
    compare = {"=": lambda a: a == expected, "!=": lambda a: a != expected, ">": lambda a: a > expected,
               "<": lambda a: a < expected, ">=": lambda a: a >= expected, "<=": lambda a: a <= expected}[op]
    return any(compare(v) for v in got)


def enabled(questionnaire: dict[str, Any], response: dict[str, Any]) -> set[str]:
    """The linkIds of the Questionnaire's question items that are enabled, given the response's answers."""
    given = answers(response)
    out: set[str] = set()

    def walk(items: list[dict[str, Any]], parent_on: bool) -> None:
        for item in items:
            on = parent_on and not any(e.get("url") == HIDDEN and e.get("valueBoolean") for e in item.get("extension", []))
            conditions = item.get("enableWhen")
            if on and conditions:
                results = [_test(c, given) for c in conditions]
                if len(results) == 1:
                    on = results[0]
                else:  # R4: enableBehavior is required with more than one enableWhen
                    on = any(results) if item["enableBehavior"] == "any" else all(results)
            if on and item["type"] not in ("group", "display"):
                out.add(item["linkId"])
            walk(item.get("item", []), on)

    walk(questionnaire.get("item", []), True)
    return out


def questions(questionnaire: dict[str, Any]) -> set[str]:
    return {i["linkId"] for i in flat(questionnaire.get("item")) if i["type"] not in ("group", "display")}


def answer_for(item: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """QuestionnaireResponse answers to a Questionnaire item for a contract value (as a DTR form fills it)."""
    values = value if isinstance(value, list) else [value]
    if item.get("repeats") and value == []:
        empty = [o["valueCoding"] for o in item.get("answerOption", []) if "valueCoding" in o]
        return [{"valueCoding": {"system": empty[-1]["system"], "code": empty[-1]["code"]}}]
    out = []
    for v in values:
        kind = item["type"]
        if kind == "choice":
            coding = next(o["valueCoding"] for o in item["answerOption"] if o["valueCoding"]["code"] == str(v))
            out.append({"valueCoding": {"system": coding["system"], "code": coding["code"]}})
        elif kind == "quantity":
            unit = next(e["valueCoding"] for e in item["extension"] if e["valueCoding"]["display"] == v["unit"])
            out.append({"valueQuantity": {"value": v["value"], "unit": v["unit"], "system": unit["system"], "code": unit["code"]}})
        elif kind == "boolean":
            out.append({"valueBoolean": v})
        elif kind == "integer":
            out.append({"valueInteger": v})
        elif kind == "decimal":
            out.append({"valueDecimal": v})
        elif kind == "date":
            out.append({"valueDate": v})
        else:
            out.append({"valueString": v})
    return out


def get(obj: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


# ---------------------------------------------------------------------------------------------
# Requests as an EHR sends them
# ---------------------------------------------------------------------------------------------

def without(bundle: dict[str, Any], *types: str) -> dict[str, Any]:
    return dict(bundle, entry=[e for e in bundle["entry"] if e["resource"]["resourceType"] not in types])


def held(bundle: dict[str, Any]) -> dict[str, Any]:
    """A fhirgen Bundle as an EHR's FHIR server holds it: ids, and references as Type/id."""
    text = json.dumps(bundle)
    for e in bundle["entry"]:
        text = text.replace(f'"{e["fullUrl"]}"', f'"{e["resource"]["resourceType"]}/{e["fullUrl"].rsplit(":", 1)[1]}"')
    out = json.loads(text)
    for e in out["entry"]:
        e["resource"]["id"] = e.pop("fullUrl").rsplit("/", 1)[1]
    return out


def hook_request(writer, request: dict[str, Any], hook: str = "order-sign", documented: bool = True) -> dict[str, Any]:
    """A hook call for the request's order; `documented`: with the member's earlier DTR answers (fhirgen's
    QuestionnaireResponse) among the prefetched resources."""
    bundle = held(without(writer.bundle(request), "Claim", *(() if documented else ("QuestionnaireResponse",))))
    by_type: dict[str, list[dict]] = {}
    for e in bundle["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])

    def searchset(kind: str) -> dict:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in by_type.get(kind, [])]}

    orders = by_type.get("MedicationRequest", [])
    context = {"userId": f"PractitionerRole/{by_type['PractitionerRole'][0]['id']}", "patientId": by_type["Patient"][0]["id"],
               "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]}}
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{orders[0]['id']}"]
    prefetch = {"patient": by_type["Patient"][0], "coverage": searchset("Coverage"),
                "practitioner": by_type["PractitionerRole"][0], "conditions": searchset("Condition"),
                "observations": searchset("Observation"), "questionnaireResponses": searchset("QuestionnaireResponse")}
    return {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context, "prefetch": prefetch}


