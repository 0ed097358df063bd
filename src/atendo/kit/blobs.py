"""Content-addressed blob store under the data folder: raw mail and attachments.

A blob's name is the SHA-256 of its bytes, so writing the same bytes twice is harmless and a
crash between the write and the database commit leaves at worst an unreferenced file, never a
row pointing at nothing. Writes go to a temporary file and are renamed into place.

Durability: ``put`` fsyncs by default. A batch writer (the mailbox sync) passes ``sync=False``
for every blob of a batch and then calls :meth:`BlobStore.sync` once, before the commit that
refers to them: the rows still never point at bytes that a power cut could take away, and the
fsyncs of one batch run side by side, so the file system commits them together.

Layout: ``root/ab/<sha>`` for a blob whose digest starts with ``ab`` — 256 folders, made once
each. Stores written before this layout hold ``root/ab/cd/<sha>`` (two levels, a folder per
4,096th of the digest space: a fresh store paid an mkdir, an inode, for nearly every mail).
Both are read: a blob is looked up flat first, then in the old place, and ``put`` writes
nothing when either already holds the digest, so an old store keeps working with no
migration and a blob is never written twice. New blobs always go flat.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_tmp_names = itertools.count()  # with the pid: unique among writers of one store
# fsync releases the GIL; a few at once let ext4/xfs fold them into one journal commit.
_SYNC_THREADS = 8
# One pool for the process, its threads kept between batches: starting eight threads for every
# batch showed up in the sync's profile (thread start-up, for a few milliseconds of fsync).
_sync_pool: ThreadPoolExecutor | None = None
_sync_pool_lock = threading.Lock()


def _syncer() -> ThreadPoolExecutor:
    global _sync_pool
    with _sync_pool_lock:
        if _sync_pool is None:
            _sync_pool = ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="atendo-fsync")
        return _sync_pool


def _fsync_blob(places: tuple[str, str]) -> None:
    """fsync a blob, found flat or else where an older store put it (``_places``)."""
    flat, legacy = places
    try:
        fd = os.open(flat, os.O_RDONLY)
    except FileNotFoundError:
        fd = os.open(legacy, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_share(share: list[tuple[str, str]]) -> None:
    for places in share:
        _fsync_blob(places)


def _make_folder(folder: str) -> None:
    """Create a blob's fan-out folder: one mkdir, where ``os.makedirs`` would first stat the
    parent (a failed mkdir instead, and the store's, when the store itself is missing too)."""
    try:
        os.mkdir(folder)
    except FileExistsError:  # another writer made it meanwhile
        pass
    except FileNotFoundError:  # the store itself is missing
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder)


_HEX = frozenset("0123456789abcdef")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)

    def _places(self, sha: str) -> tuple[str, str]:
        """Where the blob may be: flat, and where an older store put it."""
        if len(sha) != 64 or not _HEX.issuperset(sha):
            raise ValueError("not a sha256 hex digest")
        return self._layout(sha)

    def _layout(self, sha: str) -> tuple[str, str]:
        """(flat path, older two-level path) of a digest known to be one (see the docstring)."""
        folder = f"{self._root}/{sha[:2]}"
        return f"{folder}/{sha}", f"{folder}/{sha[2:4]}/{sha}"

    def _path(self, sha: str) -> Path:
        """Where the blob is: flat, else where an older store put it; flat when neither."""
        flat, legacy = self._places(sha)
        if not os.path.exists(flat) and os.path.exists(legacy):
            return Path(legacy)
        return Path(flat)

    def put(self, data: bytes, *, sync: bool = True) -> str:
        """Store ``data``; returns its SHA-256. ``sync=False``: the caller calls :meth:`sync`."""
        sha = hashlib.sha256(data).hexdigest()
        # os-level calls on str paths (the digest needs no check): this runs for every mail
        # and attachment.
        path, legacy = self._layout(sha)
        # Already there: flat, or where an older store put it (see the module docstring).
        if os.path.exists(path) or os.path.exists(legacy):
            return sha
        tmp = f"{path}.tmp-{os.getpid()}-{next(_tmp_names)}"
        try:
            fd = os.open(tmp, _CREATE, 0o644)
        except FileNotFoundError:  # the first blob of its folder
            _make_folder(os.path.dirname(path))
            fd = os.open(tmp, _CREATE, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return sha

    def sync(self, shas: Iterable[str]) -> None:
        """Make the blobs written with ``sync=False`` durable (before committing rows to them)."""
        places = [self._places(sha) for sha in dict.fromkeys(shas)]
        if len(places) <= 1:
            _fsync_share(places)
            return
        # One task per thread, each taking its share in turn: as many fsyncs side by side as
        # one task per blob would give, without a future (a lock, a condition) per blob in
        # the committing process.
        shares = [places[i::_SYNC_THREADS] for i in range(min(_SYNC_THREADS, len(places)))]
        for done in [_syncer().submit(_fsync_share, share) for share in shares]:
            done.result()

    def get(self, sha: str) -> bytes:
        return self._path(sha).read_bytes()

    def path(self, sha: str) -> Path:
        """Where the blob lives (to stream a big one instead of reading it whole)."""
        return self._path(sha)

    def exists(self, sha: str) -> bool:
        return self._path(sha).exists()
