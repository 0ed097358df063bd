"""The composition of one running Atendo: settings, database, blob store, secret box.

Built once by the CLI (or a test) and handed to the API, the panel and the workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atendo.kit.blobs import BlobStore
from atendo.kit.crypto import SecretBox
from atendo.kit.db import Database
from atendo.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: BlobStore
    box: SecretBox
    worker_id: str = field(default="")

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        import os
        import socket

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url, pool_size=settings.db_pool_size),
            blobs=BlobStore(settings.blob_dir),
            box=SecretBox(settings.resolved_secret_key),
            worker_id=f"{socket.gethostname()}:{os.getpid()}",
        )

    def close(self) -> None:
        self.db.dispose()
