"""The CPU of a request (reading the Bundle, deciding, the response, the PROV-O quads) in worker processes.

    compute = Compute(workers=2)          # 0: in the service's own worker thread
    decided = await compute(pas_decide, bundle, authorization)

The store has one writer (RocksDB), so the service keeps everything that touches it in one thread of
its own process; what does not (deciding a PAS Bundle, evaluating a CDS hook's orders, generating a
DTR questionnaire or the next question) can run in worker processes, one core each. The workers are
forked from the service once it has loaded the knowledge base (they share its pages) and before it
opens the store or starts serving. Their results are plain data (dicts, pyoxigraph quads) and their
refusals ServiceErrors, both picklable. A worker that dies is replaced: the pool is made again and the
request that met it gets 500.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from reasoner.flow.engine import default_reasoner
from reasoner.services.crd import Answer, Crd
from reasoner.services.dtr import Dtr
from reasoner.services.pas import Decided, decide

__all__ = ["Compute", "pas_decide", "crd_evaluate", "dtr_package", "dtr_next_question"]

_CRD: Crd | None = None
_DTR: Dtr | None = None


def _warm() -> None:
    """Load what every request needs once per process: the reasoner, the mapping, the form model."""
    global _CRD, _DTR
    engine = default_reasoner()
    if _CRD is None:
        _CRD = Crd(engine)
        _DTR = Dtr(engine)
        from reasoner.services.fields import form_model

        form_model(engine.kb)


def pas_decide(obj: Any, authorization: str | None) -> Decided:
    _warm()
    return decide(default_reasoner(), obj, authorization)


def crd_evaluate(service_id: str, body: Any) -> Answer:
    _warm()
    assert _CRD is not None
    return _CRD.evaluate(service_id, body)


def dtr_package(obj: Any) -> dict[str, Any]:
    _warm()
    assert _DTR is not None
    return _DTR.package(obj)


def dtr_next_question(obj: Any) -> dict[str, Any]:
    _warm()
    assert _DTR is not None
    return _DTR.next_question(obj)


class Compute:
    """Run the functions above: in worker processes (`workers` > 0), else in the caller's own thread."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            _warm()  # loaded before the fork: the workers start ready, sharing the pages
            self._pool = self._new_pool(fork=True)

    def _new_pool(self, fork: bool) -> ProcessPoolExecutor:
        """Forked at start-up (nothing runs yet but this thread); a replacement is spawned, since by
        then the service runs threads a fork would copy mid-way."""
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if fork and "fork" in methods else "spawn")
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_warm)
        for future in [pool.submit(_warm) for _ in range(self.workers)]:
            future.result()
        return pool

    @property
    def parallel(self) -> bool:
        return self._pool is not None

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self._pool is not None
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:
            self._pool = self._new_pool(fork=False)
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
