"""Over HTTP: `blincyto serve` (read-only SPARQL 1.1 Protocol endpoint) and `--store http://...`.

Each server is started by the test on a free loopback port, waited for with a bounded loop and
always stopped. Clients are independent of the project: SPARQLWrapper and rdflib's SPARQLStore
for the endpoint; a real Oxigraph server (the `oxigraph` package) as the remote store.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from rdflib import Graph
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import JSON, POST, SPARQLWrapper
from typer.testing import CliRunner

from reasoner.sparql import store as st
from reasoner.cli import app

from processes import stop

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
EXAMPLE = ROOT / "examples" / "needs-info-initial-missing-mrd-medicaid.json"
BX = "https://w3id.org/blincyto-pa/ontology#"
READY_S = 60
MARKER = "marker-5f1c0d"  # a string that must never reach the server's log


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str) -> None:
    """Poll `url` until it answers 200, the process dies, or READY_S pass."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"server not ready after {READY_S} s")


@contextmanager
def running(cmd: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_ready(proc, ready_url)
            yield proc
        finally:
            stop(proc)


def ask_url(base: str) -> str:
    return base + "?" + urllib.parse.urlencode({"query": "ASK {}"})


def values(results: dict) -> list[dict[str, str | None]]:
    names = results["head"]["vars"]
    return [{n: (b[n]["value"] if n in b else None) for n in names} for b in results["results"]["bindings"]]


def in_process(target: Path, name: str) -> list[dict[str, str | None]]:
    results = st.query_local(target, st.with_prefixes(st.resolve_query(name)))
    names = [v.value for v in results.variables]
    return [{n: (r[n].value if r[n] is not None else None) for n in names} for r in results]


# --------------------------------------------------------------------------- blincyto serve


@pytest.fixture(scope="module")
def served(tmp_path_factory, reasoner_for):
    """(query URL, store directory, server log) of `blincyto serve` over a store of the examples."""
    base = tmp_path_factory.mktemp("endpoint")
    target = base / "store"
    with st.open_store(target) as s:
        s.add_all(reasoner_for().evaluate_full(json.loads(p.read_text())) for p in EXAMPLES)
    port = free_port()
    url = f"http://127.0.0.1:{port}/query"
    log = base / "serve.log"
    cmd = [sys.executable, "-m", "reasoner.cli", "serve", str(target), "--port", str(port), "--timeout", "3"]
    with running(cmd, ask_url(url), log) as proc:
        yield url, target, log, proc


@pytest.mark.parametrize("name", sorted(st.saved_queries()))
def test_every_saved_query_over_http_answers_like_in_process(served, name):
    url, target, _, _ = served
    client = SPARQLWrapper(url)
    # SPARQLWrapper guesses the query type from keywords and does not skip comments ("adds" reads
    # as ADD), so the question comments are left out of what it sends; the query is the same.
    text = "\n".join(line for line in st.resolve_query(name).splitlines() if not line.startswith("#"))
    client.setQuery(st.with_prefixes(text))
    client.setReturnFormat(JSON)
    assert values(client.query().convert()) == in_process(target, name)


def test_rdflib_sparqlstore_reads_the_endpoint(served):
    url, target, _, _ = served
    g = Graph(store=SPARQLStore(url, returnFormat="json"))
    got = {str(row.id) for row in g.query(
        "PREFIX bx: <%s> SELECT ?id WHERE { ?d a bx:Determination ; bx:requestId ?id }" % BX)}
    assert got == {json.loads(p.read_text())["id"] for p in EXAMPLES}


def test_update_is_refused(served):
    url, _, _, _ = served
    base = url.rsplit("/", 1)[0]
    insert = "INSERT DATA { GRAPH <urn:test> { <urn:a> <urn:b> <urn:c> } }"
    for endpoint in (base + "/update", url):
        client = SPARQLWrapper(url, updateEndpoint=endpoint)
        client.setMethod(POST)
        client.setQuery(insert)
        with pytest.raises(urllib.error.HTTPError) as refused:
            client.query()
        assert refused.value.code == 403
    form = urllib.parse.urlencode({"update": insert}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=form, method="POST"), timeout=10)
    assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as not_allowed:
        urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="PUT"), timeout=10)
    assert not_allowed.value.code == 405
    client = SPARQLWrapper(url)
    client.setQuery("ASK { GRAPH <urn:test> { ?s ?p ?o } }")
    client.setReturnFormat(JSON)
    assert client.query().convert()["boolean"] is False


def test_query_time_limit_stops_a_runaway_query(served):
    url, _, _, _ = served
    runaway = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?a LIMIT 1"
    started = time.monotonic()
    req = urllib.request.Request(url, data=urllib.parse.urlencode({"query": runaway}).encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as stopped:
        urllib.request.urlopen(req, timeout=60)
    assert stopped.value.code == 503
    assert time.monotonic() - started < 15  # limit 3 s, plus slack for a busy machine
    # The endpoint goes on answering (the worker was replaced).
    with urllib.request.urlopen(ask_url(url), timeout=30) as resp:
        assert json.loads(resp.read())["boolean"] is True


def test_content_negotiation_csv_and_malformed_query(served):
    url, _, _, _ = served
    q = urllib.parse.urlencode({"query": f"SELECT ?x WHERE {{ VALUES ?x {{ '{MARKER}' }} }}"})
    req = urllib.request.Request(f"{url}?{q}", headers={"Accept": "text/csv"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert resp.read().decode().splitlines() == ["x", MARKER]
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(f"{url}?{urllib.parse.urlencode({'query': 'SELECT ?x WHERE {'})}", timeout=30)
    assert bad.value.code == 400


def test_bound_to_loopback_by_default(served):
    url, _, _, _ = served
    port = int(urllib.parse.urlsplit(url).port)
    tcp = Path("/proc/net/tcp")
    if not tcp.exists():
        pytest.skip("no /proc/net/tcp to read listening addresses from")
    listening = [line.split()[1] for line in tcp.read_text().splitlines()[1:] if line.split()[3] == "0A"]
    ours = [addr for addr in listening if int(addr.split(":")[1], 16) == port]
    assert ours == ["0100007F:%04X" % port]  # 127.0.0.1, and nothing else


def test_log_names_requests_without_their_query_text(served):
    url, _, log, _ = served
    q = urllib.parse.urlencode({"query": f"ASK {{ ?s ?p '{MARKER}' }}"})
    with urllib.request.urlopen(f"{url}?{q}", timeout=30):
        pass
    deadline = time.monotonic() + 10
    while "GET /query 200" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log.read_text()
    assert "GET /query 200" in text
    assert MARKER not in text


def test_a_determination_added_while_serving_is_seen_by_the_next_query(served):
    url, target, _, _ = served
    query = "PREFIX bx: <%s> SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE { ?d a bx:Determination }" % BX

    def count() -> int:
        client = SPARQLWrapper(url)
        client.setQuery(query)
        client.setReturnFormat(JSON)
        return int(values(client.query().convert())[0]["n"])

    before = count()
    result = CliRunner().invoke(app, ["check", str(EXAMPLE), "--store", str(target), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert count() == before + 1


# --------------------------------------------------------------------------- --store http://...


def oxigraph_binary() -> str:
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / ("oxigraph.exe" if os.name == "nt" else "oxigraph")
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("oxigraph")
    assert found, "the Oxigraph server is a test dependency (pip install -e '.[test]')"
    return found


def test_check_writes_to_a_remote_oxigraph_server(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [oxigraph_binary(), "serve", "--location", str(tmp_path / "remote"), "--bind", f"127.0.0.1:{port}",
           "--union-default-graph"]
    runner = CliRunner()
    with running(cmd, ask_url(base + "/query"), tmp_path / "oxigraph.log"):
        init = runner.invoke(app, ["store", "init", base + "/update"])
        assert init.exit_code == 0, init.output
        for _ in range(2):  # the same request twice: two determinations, none overwritten
            result = runner.invoke(app, ["check", str(EXAMPLE), "--store", base + "/update", "--format", "json"])
            assert result.exit_code == 0, result.output
        det = json.loads(result.stdout)

        client = SPARQLWrapper(base + "/query")
        client.setReturnFormat(JSON)
        client.setQuery("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
        graphs = {row["g"] for row in values(client.query().convert())}
        assert set(st.kb_graph_names().values()) <= graphs
        for suffix in (":provenance", ":request", ":validation-report"):
            assert len([g for g in graphs if g.startswith("urn:blincyto:determination:") and g.endswith(suffix)]) == 2
        client.setQuery("PREFIX bx: <%s> SELECT ?d ?decision WHERE { ?d a bx:Determination ; "
                        "bx:requestId %s ; bx:decision ?decision }" % (BX, json.dumps(det["id"])))
        rows = values(client.query().convert())
        assert len(rows) == 2 and {r["decision"] for r in rows} == {det["decision"]}

        # The saved queries read the remote store through `blincyto query --store URL`.
        local = tmp_path / "local"
        with st.open_store(local):
            pass
        for name in ("tkis", "pathways", "history"):
            remote = runner.invoke(app, ["query", name, "--store", base + "/query", "--format", "json"])
            assert remote.exit_code == 0, remote.output
            got = values(json.loads(remote.stdout))
            if name == "history":
                assert [r["decision"] for r in got] == [det["decision"]] * 2
            else:
                assert got == in_process(local, name)


def test_check_reports_an_unreachable_remote_store(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/update"  # nothing listens there
    result = CliRunner().invoke(app, ["check", str(EXAMPLE), "--store", url, "--format", "json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: --store:" in result.stderr and "cannot reach" in result.stderr


# --------------------------------------------------------------------------- a store that wants credentials

class _Guarded:
    """A tiny SPARQL endpoint on loopback that answers 401 without the expected Authorization header
    and records what it was sent (headers and bodies)."""

    def __init__(self, expected: str) -> None:
        import http.server
        import threading

        seen: list[tuple[str, dict[str, str], bytes]] = []
        self.seen = seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen.append((self.path, dict(self.headers), body))
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="store"')
                    self.end_headers()
                    self.wfile.write(b"credentials required")
                    return
                if self.path.endswith("/query"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/sparql-results+json")
                    self.end_headers()
                    self.wfile.write(json.dumps({"head": {}, "boolean": True}).encode())
                else:
                    self.send_response(204)
                    self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("how", ["url", "token", "user"])
def test_remote_store_sends_credentials(monkeypatch, how):
    secret = "s3cr%t-" + MARKER
    expected = {"url": _basic("ops", secret), "token": f"Bearer {secret}", "user": _basic("ops", secret)}[how]
    server = _Guarded(expected)
    for name in st.AUTH_ENV:
        monkeypatch.delenv(name, raising=False)
    try:
        url = f"http://{server.base}/update"
        if how == "url":
            url = f"http://ops:{urllib.parse.quote(secret, safe='')}@{server.base}/update"
        elif how == "token":
            monkeypatch.setenv("BLINCYTO_STORE_TOKEN", secret)
        else:
            monkeypatch.setenv("BLINCYTO_STORE_USER", "ops")
            monkeypatch.setenv("BLINCYTO_STORE_PASSWORD", secret)
        result = CliRunner().invoke(app, ["check", str(EXAMPLE), "--store", url, "--format", "json"])
        assert result.exit_code == 0, result.output
        path, headers, body = server.seen[-1]
        assert path == "/update" and headers["Authorization"] == expected
        assert b"INSERT DATA" in body
        asked = CliRunner().invoke(app, ["query", "ASK { ?s ?p ?o }", "--store", url.replace("/update", "/query"),
                                         "--format", "json"])
        assert asked.exit_code == 0, asked.output
        assert server.seen[-1][1]["Authorization"] == expected
    finally:
        server.close()


def test_remote_store_refusal_names_the_store_without_the_password(monkeypatch):
    server = _Guarded(_basic("ops", "right"))
    for name in st.AUTH_ENV:
        monkeypatch.delenv(name, raising=False)
    try:
        url = f"http://ops:wrong-{MARKER}@{server.base}/update"
        result = CliRunner().invoke(app, ["check", str(EXAMPLE), "--store", url, "--format", "json"])
        assert result.exit_code == 1
        assert "401" in result.stderr and f"http://{server.base}/update" in result.stderr
        assert MARKER not in result.stderr + result.stdout
        assert server.seen[-1][1]["Authorization"] == _basic("ops", f"wrong-{MARKER}")
    finally:
        server.close()
