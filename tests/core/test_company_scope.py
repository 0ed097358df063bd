"""The company-scope guard (tests/company_scope.py) itself: what it calls scoped."""

from __future__ import annotations

import importlib

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import aliased
from tests.company_scope import ALLOWED, unscoped_tables

from atendo.core.clients.models import Client, ClientIdentity
from atendo.core.companies.models import Company
from atendo.core.dialogs.models import Dialog
from atendo.core.messages.models import Message


def test_a_by_id_read_without_the_company_is_caught() -> None:
    assert unscoped_tables(select(Message).where(Message.id == 5)) == ["messages"]
    assert unscoped_tables(select(Message).where(Message.id == 5, Message.company_id == 1)) == []
    assert unscoped_tables(select(Company).where(Company.id == 1)) == []


def test_every_table_of_a_join_needs_its_company() -> None:
    joined = select(Client).join(ClientIdentity, ClientIdentity.client_id == Client.id)
    assert unscoped_tables(joined.where(ClientIdentity.company_id == 1)) == ["clients"]
    assert (
        unscoped_tables(joined.where(ClientIdentity.company_id == 1, Client.company_id == 1)) == []
    )
    # A co-located join counts when one side is pinned to a value…
    colocated = select(Client).join(
        ClientIdentity,
        (ClientIdentity.company_id == Client.company_id) & (ClientIdentity.client_id == Client.id),
    )
    assert unscoped_tables(colocated.where(Client.company_id == 1)) == []
    # …and not on its own.
    assert unscoped_tables(colocated) == ["client_identities", "clients"]


def test_subqueries_aliases_updates_and_deletes_are_looked_into() -> None:
    last = select(Message.type).where(Message.id == Dialog.last_message_id).scalar_subquery()
    stmt = select(Dialog).where(Dialog.company_id == 1, last == "from_client")
    assert unscoped_tables(stmt) == ["messages"]
    other = aliased(Message)
    stmt2 = select(func.count(other.id)).where(other.dialog_id == 3)
    assert unscoped_tables(stmt2) == ["messages"]
    assert unscoped_tables(update(Message).where(Message.id == 1).values(read=True)) == ["messages"]
    assert unscoped_tables(delete(Message).where(Message.company_id.in_([1, 2]))) == []


def test_every_allowed_cross_company_job_exists_and_says_why() -> None:
    for name, why in ALLOWED.items():
        parts = name.split(".<locals>.")[0].split(".")  # a nested function: its outer one
        for cut in range(len(parts) - 1, 0, -1):  # the longest importable module, then attributes
            try:
                found: object = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attribute in parts[cut:]:
                found = getattr(found, attribute)
            break
        assert callable(found), name
        assert len(why) > 20, name
