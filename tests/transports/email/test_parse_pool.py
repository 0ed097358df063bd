"""The parsing helpers are started by the warm-up, every one of them: a new mailbox's first
batches, prepared side by side, never wait for a helper process to start."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from atendo.transports.email import parse_pool
from tests.servers.processes import family, process_table


def _helpers() -> int:
    """Processes under this one that run the fork server's code, less the fork server."""
    table = process_table()
    mine = family(table, os.getpid())
    servers = [
        pid for pid in mine if pid in table and "multiprocessing.forkserver" in table[pid].cmdline
    ]
    return max(0, len(servers) - 1)


@pytest.fixture
def no_helpers() -> Iterator[None]:
    parse_pool.shutdown()
    yield
    parse_pool.shutdown()


@pytest.mark.skipif(not parse_pool.ENABLED, reason="one CPU: mail is prepared in a thread")
def test_the_warm_up_starts_every_helper(no_helpers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_pool, "HELPERS", 2)
    assert _helpers() == 0
    asyncio.run(parse_pool.warm_up())
    assert _helpers() == 2


def test_the_helper_sends_back_only_what_committing_reads(tmp_path: Path) -> None:
    """The parent unpickles what the helper returns: no attachment bytes (in the blob store),
    no whole plain text, no raw headers; everything the commit reads is there."""
    from atendo.kit.blobs import BlobStore
    from tests.transports.email.test_ingest_batch import _bench_mail

    raws = _bench_mail(40)
    mine = parse_pool.prepare_all(str(tmp_path), list(enumerate(raws, start=1)))
    sent = parse_pool._prepare_for_parent(str(tmp_path), list(enumerate(raws, start=1)))
    assert any(item.parsed.attachments for item in sent)
    assert any(item.parsed.full_text and item.parsed.headers for item in mine)
    blobs = BlobStore(tmp_path)
    for full, slim in zip(mine, sent, strict=True):
        assert all(att.data == b"" for att in slim.parsed.attachments)
        assert slim.parsed.full_text == "" and slim.parsed.headers == {}
        for sha, att in zip(full.attachment_shas, full.parsed.attachments, strict=True):
            assert blobs.get(sha) == att.data
        full.parsed.full_text, full.parsed.headers = "", {}
        for att in full.parsed.attachments:
            att.data = b""
        assert slim == full  # the rest: all of it, unchanged
