"""The blob store's layout: one fan-out level (``root/ab/<sha>``), made however much of it
exists, and stores written with the old two levels (``root/ab/cd/<sha>``) still read."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from atendo.kit.blobs import BlobStore

pytestmark = pytest.mark.dbless


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _where(root: Path, data: bytes) -> Path:
    sha = _digest(data)
    return root / sha[:2] / sha


def _legacy(root: Path, data: bytes) -> Path:
    """Where a store written before the flat layout kept ``data``."""
    sha = _digest(data)
    target = root / sha[:2] / sha[2:4] / sha
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    return target


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("made", ["nothing", "store", "its folder"])
def test_put_lands_in_its_fan_out_folder(tmp_path: Path, made: str) -> None:
    root = tmp_path / "blobs"
    data = b"raw mail " + made.encode()
    target = _where(root, data)
    if made != "nothing":
        root.mkdir()
    if made == "its folder":
        target.parent.mkdir()
    store = BlobStore(root)
    sha = store.put(data, sync=False)
    assert sha == target.name
    assert target.read_bytes() == data
    assert sorted(os.listdir(root)) == [sha[:2]]  # one level: no second folder
    assert sorted(os.listdir(target.parent)) == [sha]  # no temporary file left behind
    assert store.path(sha) == target
    assert store.put(data) == sha  # the second write finds it


def test_path_refuses_what_is_not_a_digest(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    for bad in ("", "ab", "A" * 64, "g" * 64, "../" + "a" * 61, "a" * 65):
        with pytest.raises(ValueError):
            store.path(bad)
    assert store.path("0f" * 32) == tmp_path / "0f" / ("0f" * 32)  # a missing blob: flat


def test_a_store_written_with_two_levels_still_reads(tmp_path: Path) -> None:
    old = b"a mail stored before the flat layout"
    legacy = _legacy(tmp_path, old)
    store = BlobStore(tmp_path)
    sha = legacy.name
    assert store.exists(sha)
    assert store.get(sha) == old
    assert store.path(sha) == legacy
    # Written again (the same mail fetched once more): found where it is, not copied flat.
    assert store.put(old, sync=False) == sha
    store.sync([sha])
    assert _files(tmp_path) == [str(legacy.relative_to(tmp_path))]
    # A new blob beside it, in the same first-level folder, goes flat; both read.
    new = next(
        data
        for data in (f"new mail {i}".encode() for i in range(10_000))
        if _digest(data)[:2] == sha[:2]
    )
    new_sha = store.put(new)
    assert store.path(new_sha) == tmp_path / sha[:2] / new_sha
    assert (store.get(sha), store.get(new_sha)) == (old, new)
    assert _files(tmp_path) == sorted([str(legacy.relative_to(tmp_path)), f"{sha[:2]}/{new_sha}"])


def test_sync_fsyncs_every_blob_of_a_batch_once_wherever_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)
    old = b"a mail stored before the flat layout"
    legacy = _legacy(tmp_path, old)
    shas = [store.put(f"mail {i}".encode(), sync=False) for i in range(21)]
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))  # list.append: safe across threads
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store.sync([*shas, legacy.name, shas[0]])  # a digest named twice is fsync-ed once
    wanted = [str(tmp_path / sha[:2] / sha) for sha in shas] + [str(legacy)]
    assert sorted(synced) == sorted(wanted)
    synced.clear()
    store.sync([shas[3]])
    assert synced == [str(tmp_path / shas[3][:2] / shas[3])]
    with pytest.raises(FileNotFoundError):  # never a commit to a blob that is not there
        store.sync([*shas, "0f" * 32])
