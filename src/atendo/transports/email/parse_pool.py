"""Preparing fetched mail (store raw, parse, store attachments) in a helper process.

Why: parsing is pure-Python CPU work. Done in the sync worker's process it competes for the
GIL with the ORM work of committing, so the two only ever take turns. One helper process
prepares batch k+1 while the worker commits batch k (see ``MailboxSync._fetch``).

The helper runs :func:`atendo.transports.email.ingest.prepare` unchanged: the raw bytes go to the
blob store first, then the mail is parsed, then its attachments are stored — all without
fsync; the worker fsyncs every blob of the batch before the commit that refers to them, so the
invariants of :mod:`atendo.transports.email.ingest` hold whichever process prepared the mail.

Fallbacks, each logged: on a one-CPU machine, or when the helper died (``BrokenProcessPool``:
a crash in a C extension, the OOM killer), the batch is prepared in a thread of the worker
instead, and the next batch starts a fresh helper. ``ATENDO_PARSE_IN_PROCESS=0`` turns the
helper off. The helper exits by itself within a second of the worker's death (kill -9).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from atendo.kit.blobs import BlobStore
from atendo.transports.email.ingest import Incoming, prepare

log = logging.getLogger("atendo.email.parse_pool")

# One helper by default: the worker's own process is busy committing; more would only fight
# over 2 CPUs. ``atendo worker --processes N`` sizes it per process (cores / N - 1, at least 1).
HELPERS = max(1, int(os.environ.get("ATENDO_PARSE_HELPERS", "1")))
ENABLED = (os.cpu_count() or 1) > 1 and os.environ.get("ATENDO_PARSE_IN_PROCESS", "1") != "0"

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def prepare_all(root: str, items: list[tuple[int, bytes]]) -> list[Incoming]:
    """Runs in the helper (or a thread): :func:`prepare` for each (UID, raw) pair, in order."""
    blobs = BlobStore(Path(root))
    return [prepare(blobs, raw, uid=uid, sync=False) for uid, raw in items]


def _prepare_for_parent(root: str, items: list[tuple[int, bytes]]) -> list[Incoming]:
    # Attachments are already in the blob store: sending their bytes (or what nothing reads
    # after parsing) back would only cost the worker's process time to unpickle them.
    return [incoming.for_commit() for incoming in prepare_all(root, items)]


def _watch_parent(pid: int) -> None:
    """Helper initialiser: exit when the worker is gone, even after a kill -9.

    The helper holds its own task pipe open, so it would never see the worker vanish and would
    block forever (keeping the forkserver alive too); polling the worker's pid ends both.
    """

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                continue  # alive, or a new owner of the pid; either way nothing to do

    threading.Thread(target=watch, name="atendo-parse-watch", daemon=True).start()


def _context() -> multiprocessing.context.BaseContext:
    # Never fork the worker itself: it holds threads, sockets and database connections.
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # The default preload is the program's __main__, which would run a second copy of an
    # unguarded script inside the fork server; the parser is all the helper needs.
    context.set_forkserver_preload([__name__])
    return context


def _get_pool() -> ProcessPoolExecutor | None:
    global _pool
    if not ENABLED:
        return None
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=HELPERS,
                mp_context=_context(),
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


async def prepare_batch(blobs: BlobStore, items: list[tuple[int, bytes]]) -> list[Incoming]:
    """Prepared mail for ``items``, from the helper process when there is one."""
    pool = _get_pool()
    root = str(blobs.root)
    if pool is not None:
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, _prepare_for_parent, root, items
            )
        except (BrokenProcessPool, RuntimeError):  # RuntimeError: shut down meanwhile
            log.warning("the parsing helper process is gone; preparing this batch in a thread")
            _discard(pool)
    return await asyncio.to_thread(prepare_all, root, items)


async def warm_up() -> None:
    """Start the helpers now (a worker's start), so that a new mailbox's first batches do not
    wait for a process to spawn and import the parser: one task per helper, side by side (the
    pool starts a process for a task that finds no idle one)."""
    pool = _get_pool()
    if pool is None:
        return
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(
            *(loop.run_in_executor(pool, prepare_all, "", []) for _ in range(HELPERS))
        )
    except (BrokenProcessPool, RuntimeError):
        _discard(pool)


def shutdown() -> None:
    """Stop the helper (tests, and a clean exit)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
