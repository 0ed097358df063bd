"""A small mutation check: plant known bugs, one at a time, and see the tests fail.

Each mutant is one exact source edit (``old`` → ``new``) in the e-mail ingest, the outbox (the
sender's state transitions) or the dialogs service, or one of the bugs issue 10 planted, with
the tests that ought to notice it. The script copies the repository (src, tests, bench and
pyproject) to a temporary folder once, applies each mutant to the copy, runs its tests there
(``PYTHONPATH`` puts the copy's ``src`` first, so the editable install is not used), restores
the file, and prints ``killed`` or ``survived`` per mutant and the kill rate. The working tree
is never edited.

A mutant whose ``old`` text no longer occurs exactly once is reported ``stale`` and left out
of the rate: the code moved, so the list needs updating, not the tests.

    .venv/bin/python scripts/mutants.py              # all of them (slow: ~20-40 min)
    .venv/bin/python scripts/mutants.py idle group   # those whose name contains a word
    make mutants

Not part of ``make test``: it runs the relevant tests once per mutant.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("ATENDO_TEST_CORPUS", REPO.parent / "shared" / "corpus")).resolve()

EMAIL = "src/atendo/transports/email"
INGEST = f"{EMAIL}/ingest.py"
DIALOGS = "src/atendo/core/dialogs/service.py"
OUTBOX = "src/atendo/core/messages/outbox.py"
LEASES = "src/atendo/core/leases/service.py"

T = "tests/transports/email"
W = "tests/workers"
INGEST_TESTS = (f"{T}/test_ingest.py", f"{T}/test_ingest_batch.py", f"{T}/test_threading.py")
SEND_TESTS = (
    "tests/workers/test_outbox_claims.py",
    f"{T}/test_send.py",
    f"{T}/test_send_sessions.py",
    f"{T}/test_outbound_api.py",
)
DIALOG_TESTS = (
    "tests/api/test_api_writes.py",
    "tests/api/test_endpoints.py",
    "tests/panel/test_dialog_actions.py",
    f"{T}/test_threading.py",
)


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = [
    # --- the bugs issue 10 planted, which the suite used to miss --------------------------------
    Mutant(
        "planted: parse_message returns a parse error for every mail",
        f"{EMAIL}/parse.py",
        "        return _parse(bytes(raw))\n",
        '        return _fallback(bytes(raw), ValueError("planted"))\n',
        (f"{T}/test_parse_corpus.py",),
    ),
    Mutant(
        "planted: IDLE switched off (polls instead)",
        f"{EMAIL}/imap_sync.py",
        'if not self.client.has_capability("IDLE"):',
        "if True:",
        (f"{T}/test_sync.py::test_new_mail_arrives_through_idle",),
    ),
    Mutant(
        "planted: transfer-to-group forgets the group",
        DIALOGS,
        "        dialog.group_id = group_id\n",
        "        pass\n",
        DIALOG_TESTS[:2],
    ),
    Mutant(
        "planted: the batch path writes raw bytes outside the blob store",
        f"{EMAIL}/parse_pool.py",
        "    blobs = BlobStore(Path(root))\n",
        '    blobs = BlobStore(Path(root) / "elsewhere")\n',
        (f"{T}/test_ingest_batch.py",),
    ),
    Mutant(
        "planted: a mail with a parse error is dropped (3 % of the corpus)",
        INGEST,
        "    if exists is not None or _is_our_own_copy(",
        "    if exists is not None or incoming.parsed.parse_error or _is_our_own_copy(",
        (f"{T}/test_ingest.py",),
    ),
    # --- ingest -----------------------------------------------------------------------------
    Mutant(
        "ingest: a blocked sender's mail is not hidden",
        INGEST,
        "        if _blocked(session, channel=channel,",
        "        if False and _blocked(session, channel=channel,",
        INGEST_TESTS,
    ),
    Mutant(
        "ingest: our own mail is taken for a client's",
        INGEST,
        "    if _is_ours(channel, box, parsed, sender):",
        "    if False:",
        INGEST_TESTS,
    ),
    Mutant(
        "ingest: the folder position stops one short",
        INGEST,
        "        .values(last_uid=uid)\n",
        "        .values(last_uid=uid - 1)\n",
        INGEST_TESTS,
    ),
    Mutant(
        "ingest: auto-replies are not marked",
        INGEST,
        "        is_auto_reply=parsed.is_auto_reply,\n",
        "        is_auto_reply=False,\n",
        INGEST_TESTS,
    ),
    Mutant(
        "ingest: an unreadable mail gets no placeholder text",
        INGEST,
        "        text = UNREADABLE\n",
        "        text = text\n",
        INGEST_TESTS,
    ),
    Mutant(
        "ingest: mail without Message-ID deduplicated by subject",
        INGEST,
        '    return f"mid:{mid}" if mid else f"sha256:{raw_sha}"',
        '    return f"mid:{mid}" if mid else f"subject:{parsed.subject}"',
        INGEST_TESTS,
    ),
    # --- dialogs ----------------------------------------------------------------------------
    Mutant(
        "dialogs: unread counts only to one",
        DIALOGS,
        "        dialog.unread = (dialog.unread or 0) + 1\n",
        "        dialog.unread = 1\n",
        (*INGEST_TESTS, *DIALOG_TESTS),
    ),
    Mutant(
        "dialogs: closing a dialog leaves its request open",
        DIALOGS,
        "        request.state = DialogState.CLOSED.value\n        request.end = now\n",
        "        request.end = now\n",
        DIALOG_TESTS,
    ),
    Mutant(
        "dialogs: a new message to a closed dialog leaves it closed",
        DIALOGS,
        "        dialog.begin = utcnow()\n        dialog.end = None\n    if recipients:",
        "        dialog.begin = utcnow()\n        dialog.end = None\n"
        "        dialog.state = 'closed'\n    if recipients:",
        (*INGEST_TESTS, *DIALOG_TESTS),
    ),
    Mutant(
        "dialogs: transfer to another company's operator",
        DIALOGS,
        "        if op is None or op.company_id != company_id:\n",
        "        if op is None:\n",
        (*DIALOG_TESTS, "tests/api/test_tenancy.py"),
    ),
    Mutant(
        "dialogs: a later message's subject replaces the dialog's",
        DIALOGS,
        "    if message.subject and not dialog.subject:\n",
        "    if message.subject:\n",
        (*INGEST_TESTS, *DIALOG_TESTS),
    ),
    # --- outbox (the sender's transitions) --------------------------------------------------
    Mutant(
        "outbox: a temporary failure fails at once",
        OUTBOX,
        "        delay = schedule.next_attempt(message, now)\n        if delay is None:\n",
        "        delay = schedule.next_attempt(message, now)\n        if True:\n",
        SEND_TESTS,
    ),
    Mutant(
        "outbox: the backoff never grows",
        OUTBOX,
        "delay = self.backoff[n - 1] if n <= len(self.backoff)",
        "delay = self.backoff[0] if n <= len(self.backoff)",
        SEND_TESTS,
    ),
    Mutant(
        "outbox: never gives up",
        OUTBOX,
        "        if now + delay - message.created > self.give_up_after:\n",
        "        if False:\n",
        SEND_TESTS,
    ),
    Mutant(
        "outbox: a sent message keeps its last error",
        OUTBOX,
        '            "sent_at": now,\n            "smtp_reply": outcome.reply,\n'
        '            "error": None,\n',
        '            "sent_at": now,\n            "smtp_reply": outcome.reply,\n',
        SEND_TESTS,
    ),
    Mutant(
        "outbox: a retried message stays claimed",
        OUTBOX,
        '            "claimed_by": None,\n',
        "",
        SEND_TESTS,
    ),
    Mutant(
        "outbox: refused recipients are forgotten on success",
        OUTBOX,
        '            "recipient_errors": dict(outcome.refused),\n        }\n'
        "        return DeliveryStatus.SENT",
        '            "recipient_errors": {},\n        }\n        return DeliveryStatus.SENT',
        SEND_TESTS,
    ),
    Mutant(
        "outbox: no outbox_status event when a message is finished",
        OUTBOX,
        "        if status != DeliveryStatus.QUEUED:\n",
        "        if False:\n",
        (*SEND_TESTS, "tests/api/test_webhooks.py"),
    ),
    # --- workers: leases, wake-ups, no late mail, dead workers' claims --------------------------
    Mutant(
        "workers: no search again after a fetch (mail delivered meanwhile is late)",
        f"{EMAIL}/imap_sync.py",
        "            start = max(new) + 1\n",
        "            break\n",
        (f"{W}/test_sync_promptly.py",),
    ),
    Mutant(
        "workers: a new channel does not wake its worker",
        "src/atendo/core/channels/service.py",
        "    channel_changed(session, channel.id)  # its worker starts syncing it at once\n",
        "",
        (f"{W}/test_sync_promptly.py",),
    ),
    Mutant(
        "leases: the fence lets a worker that lost its lease commit",
        LEASES,
        "    return row is not None and row[0] == worker_id and int(row[1]) == token\n",
        "    return True\n",
        (f"{W}/test_leases.py",),
    ),
    Mutant(
        "leases: a live lease can be taken over",
        LEASES,
        "            | (Channel.lease_until < now)\n",
        "            | (Channel.lease_until > now)\n",
        (f"{W}/test_leases.py",),
    ),
    Mutant(
        "outbox: a dead worker's claims stay claimed",
        OUTBOX,
        "Message.claimed_by.in_(lapsed))",
        "Message.claimed_by.in_([]))",
        (f"{W}/test_outbox_claims.py",),
    ),
    Mutant(
        "workers: every copy to Sent logs in again",
        f"{EMAIL}/sent_copy.py",
        "        session = self._sessions.setdefault(account, _SentSession(account))\n",
        "        session = _SentSession(account)\n",
        (f"{W}/test_sent_copies.py",),
    ),
]


# Issue 11 (e-mail conversations): recipients, subjects, threading, bounces, hidden mail,
# the held queue, forward, drafts, failures in words. Tests: test_conversations*.py.
CONV_TESTS = (f"{T}/test_conversations.py",)
CONV_PANEL_TESTS = (f"{T}/test_conversations_panel.py",)
MUTANTS += [
    Mutant(
        "a bounce leaves the open request it belongs to",
        "src/atendo/transports/email/ingest.py",
        "            request = lookups.requests.get(dialog.id) or current_request(session, dialog=dialog)",  # noqa: E501
        "            request = None",
        CONV_TESTS,
    ),
    Mutant(
        "reply-all drops the client's Cc",
        "src/atendo/transports/email/recipients.py",
        "        cc_raw = [*(last.to or []), *(last.cc or [])]",
        "        cc_raw = []",
        CONV_TESTS,
    ),
    Mutant(
        "Bcc left off the envelope",
        "src/atendo/transports/email/smtp_delivery.py",
        "*(message.cc or []), *(message.bcc or [])]",
        "*(message.cc or [])]",
        CONV_TESTS,
    ),
    Mutant(
        "Bcc written as a header",
        "src/atendo/transports/email/compose.py",
        '    if message.cc:\n        headers.append(("Cc", ", ".join(message.cc)))',
        '    if message.cc:\n        headers.append(("Cc", ", ".join(message.cc)))\n    if message.bcc:\n        headers.append(("Bcc", ", ".join(message.bcc)))',  # noqa: E501
        CONV_TESTS,
    ),
    Mutant(
        "Reply-To ignored",
        "src/atendo/transports/email/recipients.py",
        'to_raw = list(last.reply_to or []) or [last.from_email or ""]',
        'to_raw = [last.from_email or ""]',
        CONV_TESTS,
    ),
    Mutant(
        "subject from auto-replies and bounces",
        "src/atendo/transports/email/subjects.py",
        "if m.type not in _PERSON_WRITTEN or m.is_auto_reply or m.is_bounce:",
        "if m.type not in _PERSON_WRITTEN:",
        CONV_TESTS,
    ),
    Mutant(
        "prefixes stacked",
        "src/atendo/transports/email/subjects.py",
        "        if stripped == text:\n            return text",
        "        if True:\n            return stripped",
        CONV_TESTS,
    ),
    Mutant(
        "References = the parent only",
        "src/atendo/transports/email/outbound.py",
        "        refs.extend(strip_brackets(r) for r in ancestors)",
        "        refs = []",
        CONV_TESTS,
    ),
    Mutant(
        "subjectless mail let through",
        "src/atendo/transports/email/outbound.py",
        "    if not final_subject:\n        raise Invalid(",
        "    if False:\n        raise Invalid(",
        CONV_TESTS,
    ),
    Mutant(
        "unmatched bounce hidden",
        "src/atendo/transports/email/ingest.py",
        "            dialog = _bounce_dialog(session, channel=channel, parsed=parsed, lookups=lookups)",  # noqa: E501
        "            dialog = None",
        CONV_TESTS,
    ),
    Mutant(
        "bounce opens a request",
        "src/atendo/transports/email/ingest.py",
        "        if bounce:\n",
        "        if False:\n",
        CONV_TESTS,
    ),
    Mutant(
        "535 burns retries",
        "src/atendo/transports/email/smtp_send.py",
        'return ChannelProblem(f"login refused',
        'return TemporaryFailure(f"login refused',
        CONV_TESTS,
    ),
    Mutant(
        "held channel still claimed",
        "src/atendo/core/messages/outbox.py",
        "            Message.channel_id.not_in(select(Channel.id).where(Channel.send_held.is_(True))),\n",  # noqa: E501
        "",
        CONV_TESTS,
    ),
    Mutant(
        ".local refused",
        "src/atendo/transports/email/recipients.py",
        'if name not in ("local", "localhost", "test")',
        'if name not in ("localhost", "test")',
        CONV_TESTS,
    ),
    Mutant(
        "forward without attachments",
        "src/atendo/transports/email/outbound.py",
        "runtime.blobs.get(a.blob_sha)) for a in files\n",
        "runtime.blobs.get(a.blob_sha)) for a in files[:0]\n",
        CONV_TESTS,
    ),
    Mutant(
        "include_hidden ignored",
        "src/atendo/api/routes/messages.py",
        'include_hidden=bool(params.boolean("include_hidden", False)),',
        'include_hidden=False and bool(params.boolean("include_hidden", False)),',
        CONV_TESTS,
    ),
    Mutant(
        "disabled channel accepted",
        "src/atendo/transports/email/outbound.py",
        "    if channel.deleted or channel.status == ChannelStatus.DISABLED:",
        "    if channel.deleted:",
        CONV_TESTS,
    ),
    Mutant(
        "HTML quote shown twice",
        "src/atendo/transports/email/parse.py",
        "result.html = sanitize_html(shown_html if quoted_html else raw_html)",
        "result.html = sanitize_html(raw_html)",
        CONV_PANEL_TESTS,
    ),
    Mutant(
        "draft text not restored",
        "src/atendo/panel/templates/_composer.html",
        "{{ draft.text if draft }}</textarea>",
        "</textarea>",
        CONV_PANEL_TESTS,
    ),
    Mutant(
        "draft files not sent",
        "src/atendo/panel/routes/dialog.py",
        "            files = [*kept, *uploads]",
        "            files = [*uploads]",
        CONV_PANEL_TESTS,
    ),
    Mutant(
        "composer ignores the To/Cc chips",
        "src/atendo/panel/routes/dialog.py",
        '                    to=addresses.get("to"),',
        "                    to=None,",
        CONV_PANEL_TESTS,
    ),
    Mutant(
        "login refusal not worded",
        "src/atendo/kit/failures.py",
        "        FailureKind.LOGIN_REFUSED,\n        re.compile(",
        "        FailureKind.UNKNOWN,\n        re.compile(",
        CONV_PANEL_TESTS,
    ),
    Mutant(
        "hidden reason not recorded",
        "src/atendo/transports/email/ingest.py",
        "    message.hidden_reason = reason.value",
        "    message.hidden_reason = None",
        CONV_PANEL_TESTS,
    ),
    # The wake-ups (issues 13 and 20): an event, a delivery or a queued message wakes its
    # readers; with the timers an hour long, only the notify brings them.
    Mutant(
        "events written by emit_rows wake nobody",
        "src/atendo/core/events/service.py",
        '        for company_id in {row["company_id"] for row in rows}:\n            notify(',
        "        for company_id in ():\n            notify(",
        ("tests/core/test_events_wake.py",),
    ),
    Mutant(
        "an event written by emit wakes nobody",
        "src/atendo/core/events/service.py",
        "    notify(session, TOPIC, str(company_id))\n    return event",
        "    return event",
        ("tests/core/test_events_wake.py",),
    ),
    Mutant(
        "webhook deliveries wake no sender",
        "src/atendo/core/webhooks/service.py",
        "    if added:\n        notify(",
        "    if False:\n        notify(",
        ("tests/api/test_webhooks.py",),
    ),
    Mutant(
        "a queued message wakes no outbox worker",
        "src/atendo/core/messages/outgoing.py",
        "    notify(session, QUEUED_TOPIC, message.transport)",
        "    pass",
        ("tests/api/test_webhooks.py",),
    ),
]


def _copy_repo(target: Path) -> None:
    for name in ("src", "tests", "bench"):
        shutil.copytree(
            REPO / name,
            target / name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache"),
        )
    shutil.copy2(REPO / "pyproject.toml", target / "pyproject.toml")


def _run(mutant: Mutant, copy: Path, env: dict[str, str]) -> tuple[str, float, str]:
    path = copy / mutant.path
    source = path.read_text(encoding="utf-8")
    if source.count(mutant.old) != 1:
        return "stale", 0.0, f"{mutant.old!r} occurs {source.count(mutant.old)} times"
    path.write_text(source.replace(mutant.old, mutant.new), encoding="utf-8")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             "-W", "ignore", *mutant.tests],
            cwd=copy, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        path.write_text(source, encoding="utf-8")
    took = time.monotonic() - started
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else proc.stderr.strip()[-200:]
    if proc.returncode == 0:
        return "survived", took, summary
    if proc.returncode == 1:
        failed = next((line for line in lines if line.startswith(("FAILED", "ERROR"))), summary)
        return "killed", took, failed
    return "error", took, f"pytest exit {proc.returncode}: {summary}"


def main(words: list[str]) -> int:
    chosen = [m for m in MUTANTS if not words or any(w in m.name for w in words)]
    results: list[tuple[Mutant, str]] = []
    with tempfile.TemporaryDirectory(prefix="atendo-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        _copy_repo(copy)
        env = {
            **os.environ,
            "PYTHONPATH": str(copy / "src"),
            "ATENDO_TEST_CORPUS": str(CORPUS),
            "ATENDO_ENDPOINT_COVERAGE": "0",
        }
        env.pop("ATENDO_TEST_DATABASE_URL", None)  # SQLite: the fast pass
        where = subprocess.run(
            [sys.executable, "-c", "import atendo; print(atendo.__file__)"],
            cwd=copy, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if not where.startswith(str(copy)):
            sys.exit(f"the tests would import atendo from {where}, not from the copy")
        print(f"{len(chosen)} mutants; their tests run from {copy} (SQLite)", flush=True)
        for mutant in chosen:
            outcome, took, detail = _run(mutant, copy, env)
            results.append((mutant, outcome))
            print(f"{outcome:>8}  {took:6.0f} s  {mutant.name}", flush=True)
            print(f"{'':>18}{detail[:160]}", flush=True)
    counted = [o for _, o in results if o in ("killed", "survived")]
    killed = counted.count("killed")
    stale = sum(o == "stale" for _, o in results)
    errors = sum(o == "error" for _, o in results)
    rate = killed / len(counted) if counted else 0.0
    print(
        f"mutation kill rate: {killed}/{len(counted)} killed ({rate:.0%})"
        f"; {stale} stale, {errors} errors"
    )
    survivors = [m.name for m, o in results if o == "survived"]
    for name in survivors:
        print(f"  survived: {name}")
    return 0 if not survivors and not errors and not stale else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
