"""Encryption at rest of sensitive AI data: a keyring of Fernet data keys.

Fernet (``cryptography``: AES-128-CBC with an HMAC-SHA256 tag and a timestamp) encrypts each
value; a :class:`Keyring` holds several keys, the first one (the *primary*) encrypts and every
one decrypts, so a rotation never makes a row unreadable. A stored value is
``enc1:<key id>:<Fernet token>``: the key id (8 hex characters of the key's SHA-256) says which
key decrypts it without trying them all, and lets ``haste keys data-key-status`` count rows per
key. A value without the prefix is legacy plaintext and is returned as it is.

Keys come from ``HASTE_DATA_KEYS`` (comma-separated Fernet keys) or from a key file (default
``<HASTE_HOME>/data_keys.json``, created with one fresh key and mode 0600 on first use).
Rotation without downtime: ``haste keys rotate-data-key`` writes a new primary key into the file
(keeping the old ones) and re-encrypts the rows; a running process notices the file changed
within ``data_key_reload_s`` seconds when it encrypts, and at once when it meets a row under a
key id it does not hold yet.

Example:
    >>> keyring = Keyring([DataKey.generate()])
    >>> stored = keyring.encrypt("ada@example.com")
    >>> stored.startswith("enc1:") and keyring.decrypt(stored)
    'ada@example.com'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

    from haste.settings import Settings

logger = logging.getLogger(__name__)

#: Prefix of an encrypted value (format version 1).
PREFIX = "enc1:"
KEY_FILE_VERSION = 1


class DataKeyError(RuntimeError):
    """A stored value cannot be decrypted with the keyring, or the keyring cannot be loaded."""


def key_id_of_key(key: str) -> str:
    """Return the id of a Fernet key: the first 8 hex characters of its SHA-256."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()[:8]


@dataclass(frozen=True)
class DataKey:
    """One Fernet data key and its id."""

    key: str
    created_at: str | None = None

    @property
    def id(self) -> str:
        """Return the key id (derived from the key, never stored on its own)."""
        return key_id_of_key(self.key)

    @classmethod
    def generate(cls) -> DataKey:
        """Return a fresh random key (32 bytes from the OS's CSPRNG)."""
        from cryptography.fernet import Fernet

        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return cls(Fernet.generate_key().decode("ascii"), created)

    def fernet(self) -> Fernet:
        """Return the Fernet cipher of the key.

        Raises:
            DataKeyError: When the key is not a valid Fernet key (32 url-safe base64 bytes).
        """
        from cryptography.fernet import Fernet

        try:
            return Fernet(self.key.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as error:
            raise DataKeyError(
                "a data key is not a valid Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `haste keys rotate-data-key`)"
            ) from error


def is_encrypted(stored: str) -> bool:
    """Return whether a stored value is encrypted (else it is legacy plaintext)."""
    return stored.startswith(PREFIX)


def stored_key_id(stored: str) -> str | None:
    """Return the id of the key a stored value is encrypted with (``None``: plaintext)."""
    if not is_encrypted(stored):
        return None
    return stored[len(PREFIX) :].split(":", 1)[0]


# --- key file --------------------------------------------------------------------------------


def read_key_file(path: Path) -> list[DataKey]:
    """Return the keys of a key file, primary first.

    Raises:
        DataKeyError: When the file is unreadable, malformed or holds no key.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        keys = [DataKey(str(item["key"]), item.get("created_at")) for item in document["keys"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataKeyError(f"cannot read the data key file {path}: {error}") from error
    if not keys:
        raise DataKeyError(f"the data key file {path} holds no key")
    return keys


def _key_document(keys: Sequence[DataKey]) -> str:
    """Return the JSON text of a key file."""
    items = [{"id": k.id, "key": k.key, "created_at": k.created_at} for k in keys]
    return json.dumps({"version": KEY_FILE_VERSION, "keys": items}, indent=2) + "\n"


def _private_temp(path: Path, text: str) -> Path:
    """Write ``text`` to a new file next to ``path`` with mode 0600 and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return temp


def write_key_file(path: Path, keys: Sequence[DataKey]) -> None:
    """Replace a key file atomically (readers see the old or the new file, never half)."""
    if not keys:
        raise DataKeyError("refusing to write a data key file without keys")
    temp = _private_temp(path, _key_document(keys))
    os.replace(temp, path)


def ensure_key_file(path: Path) -> list[DataKey]:
    """Return the keys of ``path``, creating it with one fresh key (mode 0600) when absent.

    Two processes creating it at once agree on one key: the file appears atomically (hard link
    of a finished temporary file) and the loser reads the winner's file.
    """
    if not path.exists():
        temp = _private_temp(path, _key_document([DataKey.generate()]))
        try:
            os.link(temp, path)
            logger.info("created the data key file %s (back it up: rows need it)", path)
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)
    return read_key_file(path)


def parse_key_list(text: str) -> list[DataKey]:
    """Return the keys of a comma-separated list (``HASTE_DATA_KEYS``), primary first."""
    return [DataKey(part.strip()) for part in text.split(",") if part.strip()]


# --- keyring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    """An immutable snapshot of the keys (swapped whole on reload, so readers need no lock)."""

    keys: tuple[DataKey, ...]
    ciphers: dict[str, Fernet]
    signature: tuple[int, int, int] | None


def _file_signature(path: Path | None) -> tuple[int, int, int] | None:
    """Return what tells a rewritten key file apart: (inode, mtime in ns, size)."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _state_of(keys: Sequence[DataKey], signature: tuple[int, int, int] | None = None) -> _State:
    """Return the snapshot of ``keys`` (ciphers built once)."""
    if not keys:
        raise DataKeyError("a keyring needs at least one data key")
    ciphers = {key.id: key.fernet() for key in keys}
    return _State(tuple(keys), ciphers, signature)


class Keyring:
    """Fernet data keys: the first encrypts, all decrypt; reloads its key file on rotation.

    Args:
        keys: The keys, primary first.
        source: Key file the keys came from (reloaded when it changes), or ``None``.
        reload_s: Seconds between checks of the file's modification time when encrypting.
    """

    def __init__(
        self, keys: Sequence[DataKey], source: Path | None = None, reload_s: float = 5.0
    ) -> None:
        self._state = _state_of(keys, _file_signature(source))
        self.source = source
        self.reload_s = reload_s
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path, reload_s: float = 5.0) -> Keyring:
        """Return the keyring of a key file (created with one fresh key when absent)."""
        return cls(ensure_key_file(path), path, reload_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """Return the keyring of the settings: ``HASTE_DATA_KEYS`` if set, else the key file."""
        listed = settings.data_keys.get_secret_value().strip()
        if listed:
            return cls(parse_key_list(listed))
        assert settings.data_key_file is not None  # filled by the settings validator
        return cls.from_file(settings.data_key_file, settings.data_key_reload_s)

    @property
    def keys(self) -> tuple[DataKey, ...]:
        """Return the keys, primary first."""
        return self._state.keys

    @property
    def primary_id(self) -> str:
        """Return the id of the key that encrypts."""
        return self._state.keys[0].id

    def reload(self, force: bool = False) -> bool:
        """Re-read the key file if it changed (checked at most every ``reload_s`` unless forced).

        Returns:
            Whether new keys were loaded.
        """
        if self.source is None:
            return False
        now = time.monotonic()
        if not force and now - self._checked < self.reload_s:
            return False
        with self._lock:
            self._checked = now
            signature = _file_signature(self.source)
            if signature is None or signature == self._state.signature:
                return False
            self._state = _state_of(read_key_file(self.source), signature)
        logger.info("reloaded the data keys from %s (primary %s)", self.source, self.primary_id)
        return True

    def encrypt(self, plaintext: str) -> str:
        """Return ``plaintext`` encrypted under the primary key, as ``enc1:<id>:<token>``."""
        self.reload()
        state = self._state
        primary = state.keys[0].id
        token = state.ciphers[primary].encrypt(plaintext.encode("utf-8")).decode("ascii")
        return f"{PREFIX}{primary}:{token}"

    def _cipher(self, key_id: str) -> Fernet:
        """Return the cipher of a key id, reloading the key file once when it is unknown."""
        cipher = self._state.ciphers.get(key_id)
        if cipher is None and self.reload(force=True):
            cipher = self._state.ciphers.get(key_id)
        if cipher is None:
            where = self.source or "HASTE_DATA_KEYS"
            raise DataKeyError(
                f"a stored value is encrypted with data key {key_id}, which is not in the "
                f"keyring ({where}: {', '.join(self.key_ids())}); restore that key"
            )
        return cipher

    def decrypt(self, stored: str) -> str:
        """Return the plaintext of a stored value (legacy plaintext is returned as it is).

        Raises:
            DataKeyError: When the value's key is missing or the token does not verify.
        """
        if not is_encrypted(stored):
            return stored
        from cryptography.fernet import InvalidToken

        key_id, _, token = stored[len(PREFIX) :].partition(":")
        try:
            return self._cipher(key_id).decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as error:
            raise DataKeyError(
                f"a stored value under data key {key_id} does not verify (wrong key for that "
                "id, or the value was altered)"
            ) from error

    def rotate(self, stored: str) -> str | None:
        """Return ``stored`` re-encrypted under the primary key, or ``None`` if it already is.

        Plaintext (legacy) values are encrypted.
        """
        if stored_key_id(stored) == self.primary_id:
            return None
        return self.encrypt(self.decrypt(stored))

    def key_ids(self) -> list[str]:
        """Return the key ids, primary first."""
        return [key.id for key in self._state.keys]


_ACTIVE: tuple[Any, Keyring] | None = None
_ACTIVE_LOCK = threading.Lock()
_OVERRIDE: Keyring | None = None


def active_keyring() -> Keyring:
    """Return the process's keyring (from :func:`haste.settings.get_settings`, cached).

    The cache follows the settings: a changed ``HASTE_DATA_KEYS`` or key file (after
    ``get_settings.cache_clear()``) builds a new keyring.
    """
    global _ACTIVE
    if _OVERRIDE is not None:
        return _OVERRIDE
    from haste.settings import get_settings

    settings = get_settings()
    source = (
        settings.data_keys.get_secret_value(),
        settings.data_key_file,
        settings.data_key_reload_s,
    )
    active = _ACTIVE
    if active is not None and active[0] == source:
        return active[1]
    with _ACTIVE_LOCK:
        if _ACTIVE is None or _ACTIVE[0] != source:
            _ACTIVE = (source, Keyring.from_settings(settings))
        return _ACTIVE[1]


def use_keyring(keyring: Keyring | None) -> None:
    """Make ``keyring`` the process's keyring (``None``: back to the settings' one)."""
    global _OVERRIDE
    _OVERRIDE = keyring
