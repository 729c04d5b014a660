"""Password hashing for staff accounts: scrypt from the standard library, a random salt per
password, parameters stored with the hash so they can be raised later."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# ~50 ms on the development machine: slow for guessing, fast enough for a login.
N, R, P = 2**15, 8, 1
DKLEN = 32
MIN_LENGTH = 10
MAX_LENGTH = 256


class WeakPasswordError(ValueError):
    pass


def check_strength(password: str) -> None:
    """Rejects passwords a specialist's account should not have; the message is for the admin."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"密码至少 {MIN_LENGTH} 个字符")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"密码最多 {MAX_LENGTH} 个字符")
    if password.strip() != password:
        raise WeakPasswordError("密码首尾不能是空格")
    if len(set(password)) < 4:
        raise WeakPasswordError("密码过于简单")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=DKLEN, maxmem=128 * n * r * 2
    )


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, N, R, P)
    encode = base64.b64encode
    return f"scrypt${N}${R}${P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password[:MAX_LENGTH], base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Verified against when the username does not exist, so that both cases take the same time.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
