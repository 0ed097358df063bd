"""The company-scope guard: every statement on a tenant table names its company.

Sharding by company (Citus, distributed by ``company_id``; see docs/scaling.md) routes a query
to one shard only when it filters on ``company_id``, and joins two distributed tables on one
shard only when they are joined on it too. So, for the whole suite, this guard watches every
statement the ORM session runs (``do_orm_execute``: ``session.execute``, ``scalars``,
``session.get``…) and records a violation when a *tenant table* (one with a ``company_id``
column, or ``companies`` itself) appears in it without a comparison (``=`` or ``IN``) on that
table's own ``company_id`` (``companies.id``) with a value somewhere in the statement (the
WHERE, a join's ON, a subquery), or without an equality on ``company_id`` to a table that has
one (a co-located join). The test in which it happened then fails, naming the statement and the
code that ran it. (A violation is recorded rather than raised: a worker loop would swallow the
exception and the test would fail for the wrong reason.)

Not checked, on purpose:

- INSERTs: ``company_id`` is NOT NULL on every tenant table, so each inserted row names it.
- The ORM's own statements by primary key for rows it already holds: the UPDATE/DELETE of a
  flush, ``session.refresh`` and the load of expired attributes (``is_column_load``). Those
  rows were read under their company first. On Citus the primary keys become
  ``(company_id, id)``, and the ORM then carries ``company_id`` in these too.

Statements a test runs itself (to look at rows) are not the product's and are not checked.
``session.get(Model, id)`` in the product *is* checked: an id from outside must be read with
its company (``atendo.kit.db.get_scoped``).

``ALLOWED`` lists the functions whose statements may cross companies, each with its reason:
jobs that by nature look across every company (a worker finding work, sign-in by a token or an
e-mail address, pruning). A statement is allowed when one of them is on the call stack.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from types import FrameType

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, ColumnClause
from sqlalchemy.sql.selectable import Alias, FromClause, TableClause

from atendo.core.models import Base

# "module.qualname" of a function → why its statements may cross companies.
ALLOWED: dict[str, str] = {
    # Sign-in: the credential is what finds the company.
    "atendo.core.companies.service.company_for_token": (
        "an API token is looked up by its hash before its company is known"
    ),
    "atendo.core.companies.ratelimit.authenticate_and_count": (
        "an API token is looked up by its hash (and its request counted under the company "
        "found) before its company is known"
    ),
    "atendo.core.operators.sessions.find_session": (
        "a panel session is looked up by its cookie token before its company is known"
    ),
    "atendo.core.operators.sessions.end_session": (
        "signing out deletes the session of a cookie token, whose company is not asked"
    ),
    "atendo.core.operators.service.authenticate_operator": (
        "sign-in by e-mail address: the address is what finds the operator's company"
    ),
    "atendo.core.operators.service.create_operator": (
        "an operator's e-mail address is unique across companies (sign-in is by address)"
    ),
    # SQLite only (there is no sharding on SQLite): the table's highest id, read under the
    # write lock, to number a batch of new rows so they go in one INSERT.
    "atendo.kit.db._number_new_rows": (
        "new rows are numbered from the table's highest id, which belongs to no one company"
    ),
    # Workers find work across every company, then act on each row under its company.
    "atendo.core.webhooks.service.dispatch_events": (
        "the event dispatcher fans out every company's committed events"
    ),
    "atendo.core.webhooks.service.claim_next_deliveries": (
        "the webhook worker claims the due head delivery of every company's webhooks"
    ),
    "atendo.core.webhooks.service.record_delivery_result": (
        "the webhook worker records the outcome of a delivery it claimed across companies"
    ),
    "atendo.workers.webhook_delivery._job": (
        "the webhook worker reads the endpoint of a delivery it claimed across companies"
    ),
    "atendo.core.messages.outbox.claim_due_batch": (
        "the sender claims due messages of every company (FOR UPDATE SKIP LOCKED)"
    ),
    "atendo.core.messages.outbox.claim_due_messages": (
        "the sender reads the messages it has just claimed across companies"
    ),
    "atendo.core.messages.outbox.record_outcomes": (
        "the sender records the outcomes of a batch claimed across companies"
    ),
    "atendo.core.messages.outbox.recover_stale_sending": (
        "the sender returns every company's stale claims to the queue"
    ),
    "atendo.transports.email.smtp_delivery.SmtpDelivery.prepare_many": (
        "the e-mail sender reads the messages it claimed across companies, and their channels"
    ),
    "atendo.transports.email.smtp_delivery.SmtpDelivery.prepare": (
        "the e-mail sender reads a message it claimed across companies, and its channel"
    ),
    "atendo.transports.email.smtp_delivery.SmtpDelivery._note": (
        "the e-mail sender notes the copy-to-Sent outcome of a message it claimed, by id"
    ),
    "atendo.core.messages.outbox.fair_claim_limit": (
        "the sender sizes its share of every company's due messages by the live workers"
    ),
    "atendo.core.messages.outbox.requeue_claims_of_lapsed_workers": (
        "a dead worker's claims, of any company, go back to the queue"
    ),
    # Mailbox leases (core.leases): workers share every company's mailboxes.
    "atendo.core.leases.service.lease_views": (
        "the lease table is read across companies: workers share all mailboxes"
    ),
    "atendo.core.leases.service.take_leases": (
        "a worker takes its fair share of every company's free mailboxes"
    ),
    "atendo.core.leases.service.renew_leases": "a worker renews the leases it holds, by channel id",
    "atendo.core.leases.service.release_leases": (
        "a worker releases leases it holds (any company), by channel id"
    ),
    "atendo.core.leases.service.holds_lease": (
        "the fencing check of a lease the worker holds, by channel id and token"
    ),
    "atendo.core.leases.service.leases_held": "how many mailboxes each worker holds, all companies",
    # The mailbox sync (owned by the worker and lease work, issue 19 parts 1-2): it finds
    # every company's channels, then works on the one channel it holds by its id.
    "atendo.core.channels.service.active_channels": (
        "the mailbox sync lists every company's live channels to lease them"
    ),
    "atendo.workers.mailbox_sync.MailboxSupervisor._scan": (
        "the mailbox supervisor scans every company's channels and their leases"
    ),
    "atendo.transports.email.sessions._load": (
        "the mailbox sync reads a channel it found across companies, by id (lease work)"
    ),
    "atendo.workers.mailbox_sync._record": (
        "the mailbox sync records the status of a channel it holds, by id (lease work)"
    ),
    "atendo.transports.email.imap_sync.MailboxSync._channel": (
        "the sync of one leased channel reads it by id (lease work)"
    ),
    "atendo.transports.email.imap_sync.MailboxSync._load_folder": (
        "the sync of one leased channel reads its folder state by channel id (lease work)"
    ),
    "atendo.transports.email.imap_sync.MailboxSync._set_folder": (
        "the sync of one leased channel writes its folder state by id (lease work)"
    ),
    "atendo.transports.email.imap_sync.MailboxSync._commit_batch": (
        "the sync of one leased channel commits a fetched batch under its fenced folder state"
    ),
    # Automation (core.automation.engine, run by workers.automation): it reacts to events of
    # every company and runs every company's due menu time-outs and closes. Scoping the
    # engine's own reads by the event's company is left to its owners.
    "atendo.workers.automation._pending": (
        "the automation worker finds every company's events that still owe a reaction"
    ),
    "atendo.workers.automation.handle_event.<locals>.preview": (
        "the automation worker reads what an event found across companies needs fetched"
        " (in a thread)"
    ),
    "atendo.workers.automation.handle_event.<locals>.work": (
        "the automation worker's reaction to an event found across companies (in a thread)"
    ),
    "atendo.workers.automation._timed": (
        "the automation worker runs every company's due menu time-outs and automatic closes"
    ),
    # The widget's public side: the channel's public id is what finds the company, and one
    # hub per process fans every widget channel's events out to the visitors' sockets.
    "atendo.transports.widget.visitors.channel_by_public_id": (
        "a visitor's page names the channel by its public id before its company is known"
    ),
    "atendo.transports.widget.hub.Hub._last_id": (
        "the widget hub starts from the newest event of all (one hub per process)"
    ),
    "atendo.transports.widget.hub.Hub._read": (
        "the widget hub reads new events of every followed widget channel, any company, and"
        " the read marks of messages it announced"
    ),
    "atendo.transports.widget.delivery._any_due": (
        "the widget sender looks for any company's due widget messages"
    ),
    "atendo.core.automation.engine.run_due_closes": (
        "automatic closes due in any company, claimed across companies"
    ),
    "atendo.core.automation.engine.run_due_menus": (
        "menu time-outs due in any company, claimed across companies"
    ),
    "atendo.core.automation.engine.postpone_event": (
        "a failed reaction to an event found across companies is tried again later, by id"
    ),
    "atendo.core.automation.engine.pending_events": (
        "every company's events that still owe a reaction"
    ),
    # Operator statuses: the inactivity timeout is one sweep over every company.
    "atendo.core.team.statuses.expire_inactive": (
        "the inactivity sweep finds panel-set statuses past their company's timeout, in every"
        " company, then sets each offline under its company"
    ),
    # Retention.
    "atendo.core.events.service.prune_events": (
        "old, delivered events of every company are deleted in one job"
    ),
    "atendo.core.webhooks.service.prune_deliveries": (
        "old, delivered webhook deliveries of every company are deleted in one job"
    ),
}


@dataclass(frozen=True)
class Violation:
    sql: str
    tables: tuple[str, ...]
    stack: tuple[str, ...]

    def __str__(self) -> str:
        where = "\n      ".join(self.stack[-8:])
        return (
            f"statement on {', '.join(self.tables)} without company_id:\n    {self.sql}\n"
            f"    called from:\n      {where}"
        )


def _tenant_tables() -> frozenset[str]:
    names = {t.name for t in Base.metadata.tables.values() if "company_id" in t.c}
    return frozenset(names | {"companies"})


TENANT_TABLES = _tenant_tables()
_violations: list[Violation] = []
_lock = threading.Lock()


def _base_table(from_: FromClause) -> TableClause | None:
    """The table under a FROM (itself, or what an alias names)."""
    while isinstance(from_, Alias):
        from_ = from_.element  # type: ignore[assignment]
    return from_ if isinstance(from_, TableClause) else None


def _key(from_: FromClause) -> FromClause:
    deannotate = getattr(from_, "_deannotate", None)
    return deannotate() if deannotate is not None else from_  # type: ignore[no-any-return]


def _scope_column(column: object) -> FromClause | None:
    """The FROM whose company ``column`` names, if it is a ``company_id`` (``companies.id``)."""
    if not isinstance(column, ColumnClause):
        return None
    table = column.table
    if table is None:
        return None
    base = _base_table(table)
    if base is None or base.name not in TENANT_TABLES:
        return None
    wanted = "id" if base.name == "companies" else "company_id"
    return _key(table) if column.name == wanted else None


SCOPING_OPERATORS = {operators.eq, operators.in_op}


def unscoped_tables(statement: object) -> list[str]:
    """The tenant tables of ``statement`` whose ``company_id`` it never pins to a value.

    A table is pinned when its ``company_id`` is compared (``=``, ``IN``) with something else
    than a column, or equated with the ``company_id`` of a table that is pinned (a co-located
    join: ``messages.company_id = dialogs.company_id AND dialogs.company_id = :c``)."""
    froms: dict[FromClause, str] = {}
    pinned: set[FromClause] = set()
    joined: list[tuple[FromClause, FromClause]] = []
    for element in visitors.iterate(statement):  # type: ignore[arg-type]
        if isinstance(element, (TableClause, Alias)):
            base = _base_table(element)
            if base is not None and base.name in TENANT_TABLES:
                froms.setdefault(_key(element), base.name)
        elif isinstance(element, BinaryExpression) and element.operator in SCOPING_OPERATORS:
            left, right = _scope_column(element.left), _scope_column(element.right)
            if left is not None and right is not None:
                joined.append((left, right))
            elif left is not None and not isinstance(element.right, ColumnClause):
                pinned.add(left)
            elif right is not None and not isinstance(element.left, ColumnClause):
                pinned.add(right)
    grown = True
    while grown:
        grown = False
        for a, b in joined:
            if (a in pinned) != (b in pinned):
                pinned.update((a, b))
                grown = True
    return sorted({name for from_, name in froms.items() if from_ not in pinned})


def _stack(frame: FrameType | None) -> list[str]:
    names: list[str] = []
    while frame is not None:
        module = frame.f_globals.get("__name__", "?")
        if module.startswith(("atendo", "tests")):
            names.append(f"{module}.{frame.f_code.co_qualname}")
        frame = frame.f_back
    names.reverse()
    return names


def _check(state: ORMExecuteState) -> None:
    if state.is_column_load or state.is_relationship_load or state.is_insert:
        return
    tables = unscoped_tables(state.statement)
    if not tables:
        return
    stack = _stack(sys._getframe(1))
    if not stack or stack[-1].startswith("tests."):
        return  # the test's own look at the rows, not the product's query
    if any(name in ALLOWED for name in stack):
        return
    sql = " ".join(str(state.statement).split())
    with _lock:
        _violations.append(Violation(sql[:400], tuple(tables), tuple(stack)))
        if log := os.environ.get("ATENDO_COMPANY_SCOPE_LOG"):  # a survey of the whole suite
            inner = [name for name in stack if name.startswith("atendo.")][-3:]
            with open(log, "a") as out:
                out.write(f"{','.join(tables)}\t{' > '.join(inner)}\n")


def install() -> None:
    """Watch every ORM session of this process (idempotent)."""
    if not event.contains(Session, "do_orm_execute", _check):
        event.listen(Session, "do_orm_execute", _check)


def take() -> list[Violation]:
    """The violations recorded since the last call (and forget them)."""
    with _lock:
        found = list(_violations)
        _violations.clear()
    return found
