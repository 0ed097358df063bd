"""The blob store creates its two-level fan-out folders however much of them exists."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from atendo.kit.blobs import BlobStore

pytestmark = pytest.mark.dbless


def _where(root: Path, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    return root / sha[:2] / sha[2:4] / sha


@pytest.mark.parametrize("made", ["nothing", "store", "first level", "both levels"])
def test_put_lands_in_its_fan_out_folder(tmp_path: Path, made: str) -> None:
    root = tmp_path / "blobs"
    data = b"raw mail " + made.encode()
    target = _where(root, data)
    if made != "nothing":
        root.mkdir()
    if made in ("first level", "both levels"):
        target.parent.parent.mkdir()
    if made == "both levels":
        target.parent.mkdir()
    store = BlobStore(root)
    sha = store.put(data, sync=False)
    assert sha == target.name
    assert target.read_bytes() == data
    assert sorted(os.listdir(target.parent)) == [sha]  # no temporary file left behind
    assert store.path(sha) == target
    assert store.put(data) == sha  # the second write finds it


def test_path_refuses_what_is_not_a_digest(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    for bad in ("", "ab", "A" * 64, "g" * 64, "../" + "a" * 61, "a" * 65):
        with pytest.raises(ValueError):
            store.path(bad)
    assert store.path("0f" * 32) == tmp_path / "0f" / "0f" / ("0f" * 32)
