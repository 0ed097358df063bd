"""Secrets at rest (Fernet) and password / token hashing.

Mailbox passwords must be readable again (we log in with them), so they are encrypted, not
hashed; the Fernet key is derived from the installation's secret key. Operator passwords are
hashed with argon2. API tokens are long random strings, so a plain SHA-256 is enough to store
them without keeping anything usable in the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

_hasher = PasswordHasher()


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(("atendo-fernet:" + secret_key).encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self._mac_key = hashlib.sha256(("atendo-mac:" + secret_key).encode()).digest()

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this installation's key") from exc

    def mac(self, data: str, length: int = 16) -> str:
        """A short keyed MAC, hex; used to make our Message-IDs unforgeable."""
        return hmac.new(self._mac_key, data.encode(), hashlib.sha256).hexdigest()[:length]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_hex(20)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
