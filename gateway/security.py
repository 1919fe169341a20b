"""Secrets: password hashing (scrypt), API keys and session tokens.

Passwords are stored as "scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>" so the cost parameters
can be raised later while old hashes keep verifying. API keys and session tokens are random;
only their sha256 hex is stored, so a database leak does not leak usable credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SALT_BYTES = 16

KEY_PREFIX = "sk-tk-"
KEY_RANDOM_CHARS = 40


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # maxmem: 128 * r * n bytes are needed; leave headroom for raised parameters
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=256 * r * n + 1024 * 1024)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against an encoded hash; False for any malformed hash."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        actual = _scrypt(password, salt, int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH: str | None = None


def burn_password_check(password: str) -> None:
    """Spend the same time as a real check, so a login for an unknown user is not faster."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(password, _DUMMY_HASH)


def hash_key(key: str) -> str:
    """sha256 hex of an API key or session token: what the database stores."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_display_prefix(key: str) -> str:
    """What the console shows of a key: "sk-tk-AbCd...wXyZ" (8 of 40 random chars)."""
    random_part = key[len(KEY_PREFIX):]
    return f"{KEY_PREFIX}{random_part[:4]}...{random_part[-4:]}"


def new_api_key() -> tuple[str, str, str]:
    """A fresh API key: (full key, sha256 hex, display prefix). The full key is shown once."""
    # token_urlsafe(30) gives exactly 40 characters of [A-Za-z0-9_-]
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_CHARS * 3 // 4)
    return key, hash_key(key), key_display_prefix(key)


def new_password() -> str:
    """A generated password (16 characters of [A-Za-z0-9_-]) that never starts with '-', so it can be
    pasted after a command-line flag (`--admin-password VALUE`) without being read as an option."""
    while True:
        password = secrets.token_urlsafe(12)
        if not password.startswith("-"):
            return password


def new_session_token() -> tuple[str, str]:
    """A fresh console session token: (token for the client, sha256 hex to store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_key(token)


def secret_hint(secret: str | None) -> str | None:
    """A masked hint of an upstream key, e.g. "sk-...abcd"; short secrets show nothing of themselves."""
    if not secret:
        return None
    if len(secret) < 12:
        return "***"
    return f"{secret[:3]}...{secret[-4:]}"
