"""Signed, expiring tokens for links sent by mail (itsdangerous), one salt per purpose."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from dailypapers.config import Settings

SECRET_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


class TokenError(ValueError):
    """A link that was altered, made for another purpose, or has expired; the message says which."""


def secret_key(settings: Settings) -> str:
    """SECRET_KEY, else a random key made once in DATA_DIR (readable by its owner only), so a
    laptop install needs no configuration and its links survive restarts."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    return key


class Signer:
    def __init__(self, settings: Settings) -> None:
        self._key = secret_key(settings)

    def dumps(self, purpose: str, value: Any) -> str:
        return URLSafeTimedSerializer(self._key, salt=purpose).dumps(value)

    def loads(self, purpose: str, token: str, *, max_age_seconds: int) -> Any:
        serializer = URLSafeTimedSerializer(self._key, salt=purpose)
        try:
            return serializer.loads(token, max_age=max_age_seconds)
        except SignatureExpired:
            raise TokenError("This link has expired; ask for a new one.") from None
        except BadSignature:
            raise TokenError("This link is not valid (it may have been cut or altered).") from None
