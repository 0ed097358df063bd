"""A real, throw-away Dovecot 2.3 (IMAP, IMAPS, LMTP) for Atendo's e-mail channel tests.

Atendo's mail channel is tested against real servers, never protocol mocks. This module runs a
private Dovecot instance from a temporary run folder with its own config (rendered from
``dovecot.conf.in`` next to this file), its own ``base_dir``/``state_dir``, a unique
``instance_name`` and free loopback ports, so it never collides with another test session or
with a distribution-started Dovecot on 143/993.

Pitfalls that shaped this code (each was reproduced on the CI machines):

- "Dovecot will not deliver mail as uid 0": mail is stored as the ``mail`` user; "the run folder
  must be traversable (chmod 755) and its mail/ owned by mail. No parent folder may be 0700" --
  pytest's ``tmp_path_factory`` base directories ARE 0700, so the run folder is made with
  :func:`tempfile.mkdtemp` under ``/tmp`` (1777) and chmod-ed 0755.
- "After one failed login Dovecot delays every later login from 127.0.0.1 by seconds (the anvil
  penalty)": the config removes anvil's penalty socket and sets ``auth_failure_delay = 0``.
  Measured with 2.3.19: a failed login still answers after ~0.5 s (the auth process's fixed
  failure-queue tick, AUTH_FAILURE_DELAY_CHECK_MSECS; ``nodelay`` extra fields do not help), but
  the next correct login is immediate (~10 ms).
- "The passwd-file is re-read at most once a second": every user gets its own passwd-file
  (``users.d/<user>``, looked up by path), which Dovecot opens on first use -- a user added
  mid-session can log in at once. :meth:`DovecotServer.add_user` still confirms with
  ``doveadm auth test`` before returning.
- "An open port is not readiness: wait for the ``* OK`` greeting." :meth:`DovecotServer.start`
  does; "a clean stop takes about 2.5 s" with ``dovecot stop``, so start Dovecot once per test
  session and give each test its own user. Here the master runs in the foreground (``-F``) as
  our child and is stopped with SIGTERM (about 1 s).
- "IDLE notifications arrive 0.5 s after delivery": tests wait at least 1 s, not a tight poll.

Crash safety: the master is our child process; on Linux it gets ``PR_SET_PDEATHSIG`` = SIGTERM,
so it dies with the test process even on SIGKILL. An ``atexit`` hook stops any instance still
running at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import imaplib
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.servers.tls import client_ssl_context, write_self_signed_cert

__all__ = [
    "DovecotError",
    "DovecotServer",
    "ManySessionsDovecot",
    "dovecot_available",
    "free_port",
    "sweep_stale_run_dirs",
]

HOST = "127.0.0.1"
DOVECOT_BIN = "/usr/sbin/dovecot"
DOVEADM_BIN = "/usr/bin/doveadm"
TEMPLATE = Path(__file__).with_name("dovecot.conf.in")

_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+$")
_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
_PR_SET_PDEATHSIG = 1

_live: weakref.WeakSet[DovecotServer] = weakref.WeakSet()


class DovecotError(RuntimeError):
    """Dovecot failed to start/stop or a doveadm command failed (message includes the log tail)."""


def dovecot_available() -> str | None:
    """Return ``None`` when a Dovecot test instance can run here, else the reason it cannot."""
    if not (os.access(DOVECOT_BIN, os.X_OK) and os.access(DOVEADM_BIN, os.X_OK)):
        return f"{DOVECOT_BIN} not found: run scripts/install-system-deps.sh"
    if os.geteuid() != 0:
        return "the Dovecot test instance must run as root (mail is stored as uid 'mail')"
    return None


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the kernel picks; tiny race until it is bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def _quote_mailbox(name: str) -> str:
    """imaplib does not quote arguments; quote a (7-bit) mailbox name for IMAP."""
    if not name.isascii():
        raise ValueError(f"non-ASCII mailbox names need modified UTF-7: {name!r}")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """Make the forked Dovecot master receive SIGTERM when the test process dies (Linux only).

    PDEATHSIG fires when the parent *thread* exits, so it is only armed from the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return preexec


def sweep_stale_run_dirs(base_tmp: str = "/tmp", min_age: float = 1800.0) -> None:
    """Delete run folders left by crashed sessions (best effort; used by the constructor).

    A SIGKILL-ed test process cannot clean up; its Dovecot dies with it (PDEATHSIG) and removes
    ``run/master.pid``. Only folders older than ``min_age`` seconds whose master is gone are
    deleted, so concurrent sessions on the same machine are never touched.
    """
    now = time.time()
    for path in Path(base_tmp).glob("atendo-dovecot-*"):
        try:
            if now - path.stat().st_mtime < min_age:
                continue
            pid_file = path / "run" / "master.pid"
            if pid_file.exists():
                os.kill(int(pid_file.read_text().strip()), 0)
                continue  # master still alive
        except PermissionError:
            continue  # alive, owned by someone else
        except (OSError, ValueError):
            pass  # dead pid (ProcessLookupError) or unreadable: treat as stale
        shutil.rmtree(path, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_process_group(pgid: int, timeout: float) -> None:
    """SIGTERM what is left of a process group, SIGKILL it after ``timeout``; wait till gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = False
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            if killed:
                raise DovecotError(f"processes of group {pgid} still alive after SIGKILL")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + timeout
        time.sleep(0.02)


def _stop_all_at_exit() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.close()


atexit.register(_stop_all_at_exit)


class DovecotServer:
    """A private Dovecot instance (IMAP + IMAPS + LMTP on free loopback ports).

    Typical use::

        server = DovecotServer()
        server.add_user("alice@example.com", "secret")
        server.start()
        server.deliver("alice@example.com", raw_bytes)
        ...
        server.close()  # stop + delete the run folder

    Users may be added before or after :meth:`start`. Ports are picked at the first start and
    kept across :meth:`restart`, so clients configured with them can reconnect.
    """

    host: str = HOST

    def __init__(self, *, keep_run_dir: bool = False, base_tmp: str | None = None) -> None:
        """Create the run folder (no process yet).

        ``base_tmp`` defaults to ``/tmp``; it must not be (inside) a 0700 folder.
        ``keep_run_dir`` leaves the folder (config, log, Maildirs) behind after :meth:`close`.
        """
        self.keep_run_dir = keep_run_dir
        sweep_stale_run_dirs(base_tmp or "/tmp")
        self.run_dir = Path(tempfile.mkdtemp(prefix="atendo-dovecot-", dir=base_tmp or "/tmp"))
        self.run_dir.chmod(0o755)
        self.instance_name = f"atendo-test-{uuid.uuid4().hex[:12]}"
        self.config_path = self.run_dir / "dovecot.conf"
        self.log_path = self.run_dir / "dovecot.log"
        self._stderr_path = self.run_dir / "dovecot.stderr"
        self.users_dir = self.run_dir / "users.d"
        self.mail_dir = self.run_dir / "mail"
        for sub in ("run", "state", "users.d", "mail"):
            (self.run_dir / sub).mkdir(mode=0o755, exist_ok=True)
            (self.run_dir / sub).chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.mail_dir, "mail", "mail")
        self.cert_path, self.key_path = write_self_signed_cert(self.run_dir / "tls")
        (self.run_dir / "tls").chmod(0o755)
        self.imap_port = 0
        self.imaps_port = 0
        self.lmtp_port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        _live.add(self)

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    def _render_config(self) -> None:
        text = TEMPLATE.read_text()
        for key, value in {
            "@RUN_DIR@": str(self.run_dir),
            "@IMAP_PORT@": str(self.imap_port),
            "@IMAPS_PORT@": str(self.imaps_port),
            "@LMTP_PORT@": str(self.lmtp_port),
            "@INSTANCE_NAME@": self.instance_name,
        }.items():
            text = text.replace(key, value)
        self.config_path.write_text(text)
        self.config_path.chmod(0o644)

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of Dovecot's log and of the master's stderr (for error messages)."""
        parts = []
        for path in (self._stderr_path, self.log_path):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts) or "(no log output)"

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> str:
        """Dovecot's log once it holds ``needle``.

        The login process hands its line to the log process, which writes it a moment after
        the client already has its answer; reading the file at once races that write.
        Raises ``AssertionError`` with the log tail when the line never comes.
        """
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError):
                text = self.log_path.read_text(errors="replace")
                if needle in text:
                    return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not in Dovecot's log\n{self.log_tail()}")
            time.sleep(0.05)

    def start(self, timeout: float = 10.0) -> None:
        """Start the master (``dovecot -F -c conf``) and wait for the ``* OK`` IMAP greeting.

        Free ports are picked at the first start (retried if another process grabs one in the
        meantime); a restart reuses them. Raises :class:`DovecotError` with the log tail.
        """
        reason = dovecot_available()
        if reason:
            raise DovecotError(reason)
        if self.running:
            return
        first = self.imap_port == 0
        attempts = 3 if first else 1
        for attempt in range(attempts):
            if first:
                ports: set[int] = set()
                while len(ports) < 3:
                    ports.add(free_port())
                self.imap_port, self.imaps_port, self.lmtp_port = sorted(ports)
            try:
                self._start_once(timeout)
                return
            except DovecotError as exc:
                if attempt + 1 < attempts and "Address already in use" in str(exc):
                    continue
                raise

    def _start_once(self, timeout: float) -> None:
        self._render_config()
        with contextlib.suppress(FileNotFoundError):
            self._stderr_path.unlink()
        with self._stderr_path.open("wb") as err:
            self._proc = subprocess.Popen(
                [DOVECOT_BIN, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
                preexec_fn=_pdeathsig_preexec(),
            )
        deadline = time.monotonic() + timeout
        last_error = "no connection yet"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise DovecotError(f"dovecot exited with {code} at start\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.imap_port), timeout=1.0) as s:
                    s.settimeout(2.0)
                    greeting = s.recv(512)
                if greeting.startswith(b"* OK"):
                    return
                last_error = f"unexpected greeting {greeting[:80]!r}"
            except OSError as exc:
                last_error = repr(exc)
            time.sleep(0.02)
        self._kill()
        raise DovecotError(
            f"dovecot gave no '* OK' greeting on {HOST}:{self.imap_port} within {timeout}s "
            f"({last_error})\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the master and every process of the instance; wait for the ports to close.

        The master does not take its children with it: an ``imap`` process serving an open
        connection outlives it and keeps answering (Dovecot 2.3.19), which is no outage at all.
        So the whole process group (the master runs in its own session) is ended, like a real
        server going down. Delivered mail is on disk (Maildir, fsync-ed) and survives;
        :meth:`start` brings the same instance back on the same ports.
        """
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        self._proc = None
        _end_process_group(proc.pid, timeout)
        deadline = time.monotonic() + timeout
        ports = (self.imap_port, self.imaps_port, self.lmtp_port)
        while any(_port_open(p) for p in ports):
            if time.monotonic() > deadline:
                raise DovecotError(f"ports {ports} still open after stop\n{self.log_tail()}")
            time.sleep(0.05)

    def _kill(self) -> None:
        """SIGKILL the master's whole process group (it runs in its own session)."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        self._proc = None

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same ports (mail and users persist)."""
        self.stop(timeout)
        self.start(timeout)

    def close(self) -> None:
        """Stop (if running) and delete the run folder unless ``keep_run_dir``."""
        try:
            self.stop()
        finally:
            self._kill()
            _live.discard(self)
            if not self.keep_run_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ users

    def add_user(self, email: str, password: str, *, timeout: float = 5.0) -> None:
        """Create a passwd-file user (``users.d/<email>``, ``{PLAIN}`` password).

        Usernames are case-insensitive (Dovecot lower-cases them). When the server is running,
        returns only once ``doveadm auth test`` accepts the credentials.
        """
        if not _EMAIL_RE.match(email):
            raise ValueError(f"unsupported test user name: {email!r}")
        if any(c in password for c in ":\r\n"):
            raise ValueError("passwords in a passwd-file cannot contain ':' or newlines")
        user = email.lower()
        path = self.users_dir / user
        tmp = path.with_name(f".{user}.tmp")
        tmp.write_text(f"{user}:{{PLAIN}}{password}\n")
        tmp.chmod(0o644)
        tmp.replace(path)
        if not self.running:
            return
        deadline = time.monotonic() + timeout
        while True:
            result = self._doveadm("auth", "test", user, password, check=False)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise DovecotError(
                    f"user {user} still cannot authenticate after {timeout}s: "
                    f"{result.stdout}{result.stderr}\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def users(self) -> list[str]:
        return sorted(p.name for p in self.users_dir.iterdir() if not p.name.startswith("."))

    # ------------------------------------------------------------------ doveadm

    def _doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [DOVEADM_BIN, "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise DovecotError(
                f"doveadm {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm -c <conf> ARGS`` and return its stdout (raises on failure)."""
        return self._doveadm(*args).stdout

    def _status(self, user: str, folder: str, field: str) -> int:
        out = self.doveadm("mailbox", "status", "-u", user.lower(), field, folder)
        match = re.search(rf"\b{field}=(\d+)", out)
        if not match:
            raise DovecotError(f"cannot parse doveadm mailbox status output: {out!r}")
        return int(match.group(1))

    def message_count(self, user: str, folder: str = "INBOX") -> int:
        """Number of messages in ``folder`` (via doveadm, no password needed)."""
        return self._status(user, folder, "messages")

    def uid_validity(self, user: str, folder: str = "INBOX") -> int:
        return self._status(user, folder, "uidvalidity")

    def uid_next(self, user: str, folder: str = "INBOX") -> int:
        return self._status(user, folder, "uidnext")

    def folder_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        """Sorted UIDs of all messages in ``folder``."""
        out = self.doveadm("search", "-u", user.lower(), "mailbox", folder, "ALL")
        return sorted(int(line.split()[1]) for line in out.splitlines() if line.strip())

    def folders(self, user: str) -> list[str]:
        out = self.doveadm("mailbox", "list", "-u", user.lower())
        return [line for line in out.splitlines() if line]

    def create_folder(self, user: str, folder: str) -> None:
        """Create ``folder`` (no error if it exists)."""
        if folder not in self.folders(user):
            self.doveadm("mailbox", "create", "-u", user.lower(), folder)

    def recreate_folder(
        self,
        user: str,
        folder: str = "INBOX",
        *,
        renumber: bool = False,
        uid_validity: int | None = None,
    ) -> int:
        """Force a UIDVALIDITY change on ``folder`` and return the new value.

        ``renumber=False`` (default): ``doveadm mailbox update --uid-validity N`` -- the messages
        keep their UIDs, only UIDVALIDITY changes (N defaults to old + 1).

        ``renumber=True``: simulates a server that rebuilt the folder: Dovecot's UID list and
        indexes for the Maildir are deleted and ``doveadm force-resync`` rebuilds them, so the
        same messages get UIDs 1..n again (possibly in another order) under a new UIDVALIDITY --
        the nastiest case for a client caching UIDs. Do it while no client has the folder
        selected. (``DELETE INBOX`` / ``CREATE INBOX`` is not allowed by IMAP, hence this.)
        """
        user = user.lower()
        old = self.uid_validity(user, folder)
        if renumber:
            maildir = self._maildir_path(user, folder)
            for name in ("dovecot-uidlist", "dovecot.index", "dovecot.index.log"):
                with contextlib.suppress(FileNotFoundError):
                    (maildir / name).unlink()
            for stale in maildir.glob("dovecot.index.*"):
                stale.unlink(missing_ok=True)
            self.doveadm("force-resync", "-u", user, folder)
            if uid_validity is None and self.uid_validity(user, folder) != old:
                return self.uid_validity(user, folder)
        new = uid_validity if uid_validity is not None else old + 1
        if new == old:
            raise ValueError("uid_validity must differ from the current value")
        self.doveadm("mailbox", "update", "--uid-validity", str(new), "-u", user, folder)
        actual = self.uid_validity(user, folder)
        if actual != new:
            raise DovecotError(f"UIDVALIDITY of {user}/{folder} is {actual}, wanted {new}")
        return actual

    # ------------------------------------------------------------------ delivery

    def deliver(self, recipient: str, raw: bytes, *, sender: str = "sender@example.org") -> None:
        """Deliver one message through LMTP (Dovecot stores it in the recipient's INBOX).

        Raises :class:`smtplib.SMTPException` if Dovecot refuses (e.g. unknown user).
        """
        self.deliver_many(recipient, [raw], sender=sender)

    def deliver_many(
        self,
        recipient: str,
        raws: Iterable[bytes],
        *,
        sender: str = "sender@example.org",
        connections: int = 1,
    ) -> int:
        """Deliver messages through LMTP in order, reusing one LMTP session per connection.

        With ``connections > 1`` messages are spread over parallel sessions (faster, but the
        arrival order -- hence UID order -- is then not the input order). Returns the count.
        """
        items = list(raws)
        if connections <= 1 or len(items) < 2:
            self._lmtp_send(recipient, items, sender)
            return len(items)
        chunks = [items[i::connections] for i in range(connections)]
        with ThreadPoolExecutor(max_workers=connections) as pool:
            for future in [pool.submit(self._lmtp_send, recipient, c, sender) for c in chunks]:
                future.result()
        return len(items)

    async def adeliver_many(
        self,
        recipient: str,
        raws: Iterable[bytes],
        *,
        sender: str = "sender@example.org",
        connections: int = 1,
    ) -> int:
        """:meth:`deliver_many` in a worker thread, for async tests (does not block the loop)."""
        return await asyncio.to_thread(
            self.deliver_many, recipient, list(raws), sender=sender, connections=connections
        )

    def _lmtp_send(self, recipient: str, raws: Sequence[bytes], sender: str) -> None:
        if not raws:
            return
        with smtplib.LMTP(HOST, self.lmtp_port, timeout=30) as lmtp:
            for raw in raws:
                lmtp.sendmail(sender, [recipient], raw)

    # ------------------------------------------------------------------ IMAP seeding

    def imap_connect(self, user: str, password: str, *, tls: bool = False) -> imaplib.IMAP4:
        """A logged-in imaplib client (plain IMAP, or IMAPS verifying the test certificate)."""
        client: imaplib.IMAP4
        if tls:
            client = imaplib.IMAP4_SSL(
                HOST, self.imaps_port, ssl_context=self.client_ssl_context(), timeout=30
            )
        else:
            client = imaplib.IMAP4(HOST, self.imap_port, timeout=30)
        client.login(user, password)
        return client

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context trusting the instance's self-signed certificate."""
        return client_ssl_context(self.cert_path)

    def imap_append(
        self,
        user: str,
        password: str,
        folder: str,
        raw: bytes,
        *,
        flags: Sequence[str] = (),
        create: bool = True,
    ) -> int:
        """APPEND one message over IMAP; returns its UID (from APPENDUID)."""
        return self.imap_append_many(user, password, folder, [raw], flags=flags, create=create)[0]

    def imap_append_many(
        self,
        user: str,
        password: str,
        folder: str,
        raws: Iterable[bytes],
        *,
        flags: Sequence[str] = (),
        create: bool = True,
    ) -> list[int]:
        """APPEND messages in order over one IMAP session; returns their UIDs.

        ``flags`` e.g. ``("\\\\Seen",)``. With ``create`` a missing folder is created first.
        About 250-380 messages/s (Dovecot fsyncs each); use :meth:`seed_maildir` for bulk.
        """
        if create and folder.upper() != "INBOX":
            self.create_folder(user, folder)
        flag_arg = "(" + " ".join(flags) + ")" if flags else None
        mailbox = _quote_mailbox(folder)
        uids: list[int] = []
        client = self.imap_connect(user, password)
        try:
            for raw in raws:
                typ, data = client.append(mailbox, flag_arg, None, raw)
                if typ != "OK":
                    raise DovecotError(f"APPEND to {folder} failed: {data!r}")
                match = _APPENDUID_RE.search(b" ".join(d for d in data if isinstance(d, bytes)))
                if not match:
                    raise DovecotError(f"no APPENDUID in {data!r}")
                uids.append(int(match.group(2)))
        finally:
            with contextlib.suppress(Exception):
                client.logout()
        return uids

    # ------------------------------------------------------------------ bulk fast path

    def _maildir_path(self, user: str, folder: str) -> Path:
        """On-disk Maildir folder of ``folder`` (asks Dovecot: ``doveadm mailbox path``)."""
        return Path(self.doveadm("mailbox", "path", "-u", user.lower(), folder).strip())

    def seed_maildir(
        self, user: str, raws: Iterable[bytes], *, folder: str = "INBOX", seen: bool = False
    ) -> int:
        """Bulk-seed a folder by writing Maildir files directly (thousands of messages/s).

        Dovecot picks the files up at its next sync (done here via ``doveadm mailbox status``)
        and assigns UIDs in input order (it sorts new files by the time stamp in their names).
        The mail is then indistinguishable to IMAP clients from delivered mail. Returns the
        number of messages written. Use it for big fixtures (e.g. the 10k benchmark); use
        :meth:`deliver` / :meth:`imap_append` where the delivery path itself matters.
        """
        user = user.lower()
        if folder.upper() == "INBOX":
            self.message_count(user, "INBOX")  # makes Dovecot create the Maildir
        else:
            self.create_folder(user, folder)
        maildir = self._maildir_path(user, folder)
        tmp_dir, dest_dir = maildir / "tmp", maildir / ("cur" if seen else "new")
        if not dest_dir.is_dir():
            raise DovecotError(f"Maildir folder {dest_dir} does not exist")
        st = maildir.stat()
        base = int(time.time())
        tag = uuid.uuid4().hex[:8]
        count = 0
        for count, raw in enumerate(raws, start=1):
            data = raw.replace(b"\r\n", b"\n")  # Maildir stores LF line ends
            sec, usec = base + count // 1_000_000, count % 1_000_000
            name = f"{sec}.M{usec}P{os.getpid()}Q{tag}.atendo-seed,S={len(data)}"
            tmp = tmp_dir / name
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chown(tmp, st.st_uid, st.st_gid)
            os.rename(tmp, dest_dir / (name + (":2,S" if seen else "")))
        self.message_count(user, folder)  # sync now so the first client SELECT is fast
        return count


class ManySessionsDovecot(DovecotServer):
    """The test bed's Dovecot with its limits raised for thousands of IMAP sessions (one
    ``imap`` process each): the worker's memory tests and ``bench/mailboxes.py``. Its master
    inherits the caller's open-files limit: raise ``RLIMIT_NOFILE`` first.

    Each ``imap`` process in IDLE takes an inotify instance of its user, and Linux allows 128
    per user (``fs.inotify.max_user_instances``); past them Dovecot checks the mailbox every
    ``mailbox_idle_check_interval`` (30 s by default: mail took up to 30 s to be announced).
    So here the check runs every second, and the mail is stored as ``nobody``, not ``mail``:
    the hundreds of sessions do not take the instances of every other Dovecot on the machine
    (the test bed's, anyone's), whose IDLE would then wait for that check too."""

    MAIL_USER = ("nobody", "nogroup")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if os.geteuid() == 0:
            shutil.chown(self.mail_dir, *self.MAIL_USER)

    def _render_config(self) -> None:
        super()._render_config()
        user, group = self.MAIL_USER
        text = self.config_path.read_text()
        text = text.replace("  process_limit = 256\n", "  process_limit = 5000\n")
        text = text.replace("uid=mail gid=mail", f"uid={user} gid={group}")
        text += (
            "\ndefault_process_limit = 5000\ndefault_client_limit = 10000\n"
            "mailbox_idle_check_interval = 1 secs\n"
            "service anvil {\n  client_limit = 20000\n}\n"
            "service auth {\n  client_limit = 20000\n}\n"
        )
        self.config_path.write_text(text)
