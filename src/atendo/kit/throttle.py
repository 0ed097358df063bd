"""Growing delays between sign-in attempts, counted per account and per client address.

Rules (issue 18):

* An attempt is counted **when it starts**, under one lock, before the password is checked:
  sixty attempts sent at once see the counter move one by one, so only the first few are
  checked and the rest are told to wait (a check-then-record throttle let all sixty through).
* After ``free`` attempts a key must wait before the next one: 1 s, 2 s, 4 s, ... up to its
  cap. A refused attempt is not counted, so waiting is all it takes: there is no lock-out
  that a stranger could keep an account in, only a delay of at most ``account_cap``.
  Client addresses get a much higher cap (a guesser's own address slows down for good),
  accounts a low one (trying one password on many accounts, or many passwords on one account
  from many addresses, is slowed without shutting out the account's owner for long).
* A success clears the account's count and takes the attempt back from the address (an
  office behind one address signs in all day without slowing down).
* Keys are bounded (an e-mail is cut to ``key_chars`` before it becomes a key) and so is the
  number of keys (least recently used dropped first): a flood of fresh e-mails costs a fixed
  amount of memory. Entries idle for ``forget_after`` seconds are forgotten.

In memory, per process: several web processes each keep their own counts, which multiplies
the allowance by the number of processes but keeps every one of them bounded.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    count: int
    last: float


class AttemptThrottle:
    def __init__(
        self,
        *,
        free: int = 5,
        account_cap: float = 60.0,
        address_cap: float = 15 * 60.0,
        forget_after: float = 15 * 60.0,
        max_keys: int = 10_000,
        key_chars: int = 320,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.account_cap = account_cap
        self.address_cap = address_cap
        self.forget_after = forget_after
        self.max_keys = max_keys
        self.key_chars = key_chars
        self.clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def _keys(self, account: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("account", account.strip().lower()[: self.key_chars]), (
            "address",
            address[: self.key_chars],
        )

    def _entry(self, key: tuple[str, str], now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last > self.forget_after:
            del self._entries[key]
            return None
        return entry

    def _wait(self, entry: _Entry | None, now: float, cap: float) -> float:
        if entry is None or entry.count < self.free:
            return 0.0
        delay = min(cap, 2.0 ** (entry.count - self.free))
        return max(0.0, entry.last + delay - now)

    def attempt(self, account: str, address: str) -> float:
        """0 when the attempt may go ahead (and it is counted now), else the seconds to wait
        (and nothing is counted)."""
        now = self.clock()
        account_key, address_key = self._keys(account, address)
        with self._lock:
            acct = self._entry(account_key, now)
            addr = self._entry(address_key, now)
            wait = max(
                self._wait(acct, now, self.account_cap), self._wait(addr, now, self.address_cap)
            )
            if wait > 0:
                return wait
            for key, entry in ((account_key, acct), (address_key, addr)):
                if entry is None:
                    entry = self._entries[key] = _Entry(0, now)
                entry.count += 1
                entry.last = now
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)
            return 0.0

    def failed(self, account: str, address: str) -> None:
        """The counted attempt failed: its delay runs from now (a slow check does not use up
        the wait of the next attempt)."""
        now = self.clock()
        with self._lock:
            for key in self._keys(account, address):
                entry = self._entries.get(key)
                if entry is not None:
                    entry.last = max(entry.last, now)

    def succeeded(self, account: str, address: str) -> None:
        account_key, address_key = self._keys(account, address)
        with self._lock:
            self._entries.pop(account_key, None)
            entry = self._entries.get(address_key)
            if entry is not None:
                entry.count = max(0, entry.count - 1)
