"""Search benchmark: 100,000 dialogs with 1,000,000 messages, on SQLite and on PostgreSQL.

Prints, per database, the time to build the search index (``search.service.catch_up`` over
every message), then p50/p99 of

* a search (``list_dialogs(search=…)``: accent- and case-insensitive over client name,
  addresses, phone, subject, message text and tags: FTS5 trigram on SQLite, ``pg_trgm`` on
  PostgreSQL), first page of 25 with its total;
* a filtered list (state + channel + tag + operator, first page of 25 with its total);

beside the baseline measured in the same run on the same rows: the search as it was before
(``lower(text) LIKE '%…%'`` over the messages, which is accent-sensitive and scans).

    .venv/bin/python bench/search.py [--dialogs 100000] [--per-dialog 10] [--queries 40]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, or_, select, text
from sqlalchemy.orm import Session

from atendo.core.clients.models import Client, ClientIdentity
from atendo.core.companies.service import create_company
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.dialogs.service import list_dialogs
from atendo.core.messages.models import Message
from atendo.core.search.service import catch_up
from atendo.core.tags.models import Tag, TagAssignment
from atendo.kit.pagination import Page
from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.transports.external import create_external_channel

FIRST = [
    "Ana",
    "Beatriz",
    "Carlos",
    "Débora",
    "Érica",
    "Fábio",
    "Gustavo",
    "Helena",
    "Íris",
    "João",
    "Lúcia",
    "Márcio",
    "Núbia",
]
LAST = [
    "Araújo",
    "Conceição",
    "Gonçalves",
    "Lima",
    "Magalhães",
    "Müller",
    "Pereira",
    "Simões",
    "Souza",
    "Sá",
    "Tavares",
]
WORDS = [
    "pedido",
    "entrega",
    "atrasou",
    "não",
    "chegou",
    "troca",
    "tamanho",
    "cobrança",
    "boleto",
    "nota",
    "fiscal",
    "cancelamento",
    "devolução",
    "endereço",
    "ação",
    "instalação",
    "garantia",
    "reembolso",
    "cartão",
    "parcela",
    "prazo",
    "urgente",
]
QUERIES = ["araujo", "Conceicao", "magalhaes", "Müller", "nao chegou", "devolucao", "cliente4242"]


def _messages_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))


def fill(runtime: Runtime, dialogs: int, per_dialog: int) -> dict[str, int]:
    rng = random.Random(7)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with runtime.db.transaction() as session:
        new = create_company(
            session, name="Bench", admin_email="bench@bench.example", admin_password="x" * 12
        )
        company_id, operator_id = new.company.id, new.admin.id
        channel_id = create_external_channel(
            session, company_id=company_id, name="Bench", box=runtime.box
        ).id
        tag = Tag(company_id=company_id, label="Urgência")
        session.add(tag)
        session.flush()
        tag_id = tag.id
    batch = 20_000
    with runtime.db.transaction() as session:
        for start in range(1, dialogs + 1, batch):
            ids = range(start, min(dialogs, start + batch - 1) + 1)
            session.execute(
                insert(Client),
                [
                    {
                        "id": i,
                        "company_id": company_id,
                        "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                        "phone": f"+55119{i:08d}",
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(ClientIdentity),
                [
                    {
                        "company_id": company_id,
                        "client_id": i,
                        "transport": "email",
                        "address": f"cliente{i}@exemplo.com.br",
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(Dialog),
                [
                    {
                        "id": i,
                        "company_id": company_id,
                        "client_id": i,
                        "channel_id": channel_id,
                        "state": "open" if i % 3 else "closed",
                        "operator_id": operator_id if i % 2 else None,
                        "recipients": [],
                        "subject": rng.choice(WORDS).capitalize(),
                        "begin": base,
                        "last_message_at": base + timedelta(minutes=i),
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(Request),
                [{"id": i, "company_id": company_id, "dialog_id": i, "client_id": i} for i in ids],
            )
            session.execute(
                insert(TagAssignment),
                [
                    {
                        "company_id": company_id,
                        "tag_id": tag_id,
                        "assignee_type": "request",
                        "assignee_id": i,
                    }
                    for i in ids
                    if i % 7 == 0
                ],
            )
            rows = []
            for i in ids:
                for n in range(per_dialog):
                    rows.append(
                        {
                            "company_id": company_id,
                            "channel_id": channel_id,
                            "dialog_id": i,
                            "client_id": i,
                            "request_id": i,
                            "type": "from_client" if n % 2 == 0 else "to_client",
                            "transport": "external",
                            "text": _messages_text(rng),
                            "created": base + timedelta(minutes=i, seconds=n),
                        }
                    )
            session.execute(insert(Message), rows)
    return {
        "company_id": company_id,
        "channel_id": channel_id,
        "tag_id": tag_id,
        "operator_id": operator_id,
    }


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, values: list[float]) -> None:
    print(
        f"  {name:<44} p50 {statistics.median(values):8.1f} ms   p99 {p(values, 0.99):8.1f} ms"
        f"   (n={len(values)})"
    )


def old_search(session: Session, company_id: int, query: str) -> int:
    """The search before this change: lower(...) LIKE over the raw columns."""
    like = f"%{query.strip().lower()}%"
    by_client = select(Client.id).where(
        Client.company_id == company_id, func.lower(Client.name).like(like)
    )
    by_text = select(Message.dialog_id).where(
        Message.company_id == company_id, func.lower(Message.text).like(like)
    )
    stmt = select(Dialog.id).where(
        Dialog.company_id == company_id,
        or_(Dialog.client_id.in_(by_client), Dialog.id.in_(by_text)),
    )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    list(session.scalars(stmt.order_by(Dialog.last_message_at.desc()).limit(25)))
    return total


def run(label: str, url: str, dialogs: int, per_dialog: int, queries: int, data_dir: Path) -> None:
    upgrade(url)
    runtime = Runtime.from_settings(
        Settings(database_url=url, data_dir=data_dir, secret_key="bench-search")
    )
    try:
        start = time.perf_counter()
        ids = fill(runtime, dialogs, per_dialog)
        print(f"[{label}] filled {dialogs:,} dialogs, {dialogs * per_dialog:,} messages "
              f"in {time.perf_counter() - start:.0f} s")  # fmt: skip
        start = time.perf_counter()
        with runtime.db.transaction() as session:
            indexed = catch_up(session, company_id=ids["company_id"])
        print(f"[{label}] indexed {indexed:,} messages in {time.perf_counter() - start:.0f} s")
        company_id = ids["company_id"]
        page = Page(limit=25, offset=0)
        rng = random.Random(3)
        picks = [rng.choice(QUERIES) for _ in range(queries)]
        found: dict[str, int] = {}
        with runtime.db.reading() as session:
            if session.get_bind().dialect.name == "sqlite":
                session.execute(text("ANALYZE"))

            def search_once() -> None:
                q = picks.pop() if picks else "araujo"
                found[q] = list_dialogs(session, company_id=company_id, page=page, search=q)[1]

            def filtered_once() -> None:
                list_dialogs(
                    session,
                    company_id=company_id,
                    page=page,
                    state="open",
                    channel_id=ids["channel_id"],
                    tag_id=ids["tag_id"],
                    operator_id=ids["operator_id"],
                )

            base_picks = [rng.choice(QUERIES) for _ in range(max(5, queries // 4))]
            old_found: dict[str, int] = {}

            def old_once() -> None:
                q = base_picks.pop() if base_picks else "araujo"
                old_found[q] = old_search(session, company_id, q)

            searches = timed(search_once, queries)
            filtered = timed(filtered_once, queries)
            baseline = timed(old_once, max(5, queries // 4))
        print(f"[{label}] {dialogs:,} dialogs / {dialogs * per_dialog:,} messages:")
        report("search (accent-insensitive, indexed)", searches)
        report("filtered list (state+channel+tag+operator)", filtered)
        report("baseline: old lower() LIKE search (scan)", baseline)
        print(f"  found, new: {dict(sorted(found.items()))}")
        print(f"  found, old: {dict(sorted(old_found.items()))} (accents and names missed)")
    finally:
        runtime.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dialogs", type=int, default=100_000)
    parser.add_argument("--per-dialog", type=int, default=10)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="atendo-bench-search-"))
    if args.only != "postgres":
        run("sqlite", f"sqlite:///{tmp / 'bench.db'}", args.dialogs, args.per_dialog,
            args.queries, tmp / "data-sqlite")  # fmt: skip
    if args.only != "sqlite":
        name = f"atendo_bench_search_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
        try:
            run("postgres", url, args.dialogs, args.per_dialog, args.queries, tmp / "data-pg")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
