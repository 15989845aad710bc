"""Pseudonymisation of personal identifiers (card numbers, staff ids) on ingest.

HMAC-SHA256 with a secret key, so the same person gets the same pseudonym in every feed and
distinct counts still work, while nobody without the key can reverse or re-derive it. The key
comes, in this order, from ``CAMPUS_LOGISTICS_PSEUDONYM_KEY``, the Airflow variable
``pseudonym_secret_key`` (``AIRFLOW_VAR_PSEUDONYM_SECRET_KEY``; Airflow masks a variable whose name
holds "secret" in its UI, API and logs) or the password of the Airflow connection of that name. The
old name ``pseudonym_key``, which Airflow shows in clear, still works, with a deprecation warning.
Only the embedded demo warehouse may fall back to a random key generated once and kept beside its
data directory (never in the repository).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import sys
import warnings
from functools import lru_cache
from pathlib import Path

from .errors import ConfigurationError

log = logging.getLogger(__name__)

ENV_KEY = "CAMPUS_LOGISTICS_PSEUDONYM_KEY"
AIRFLOW_VARIABLE = "pseudonym_secret_key"  # "secret": masked by Airflow's secrets masker
DEPRECATED_AIRFLOW_VARIABLE = "pseudonym_key"  # shown in clear by the Variables page and /api/v2/variables
MIN_KEY_BYTES = 16
MIN_DISTINCT_CHARS = 8  # "aaaa…", "1212…": long but guessable
_FORBIDDEN = {"changeme", "change-me", "secret", "default", "key", "test", "pseudonym_key", "password",
              "pseudonym_secret_key"}
_CHECK_TEXT = b"campus-logistics pseudonym key fingerprint v1"


def _from_airflow() -> str | None:
    key = _airflow_value(AIRFLOW_VARIABLE)
    if key:
        return key
    key = _airflow_value(DEPRECATED_AIRFLOW_VARIABLE)
    if key:
        _warn_deprecated_name()
    return key


def _warn_deprecated_name() -> None:
    message = (f"the Airflow variable {DEPRECATED_AIRFLOW_VARIABLE!r} is deprecated (Airflow shows it in clear): "
               f"rename it to {AIRFLOW_VARIABLE!r} (AIRFLOW_VAR_{AIRFLOW_VARIABLE.upper()}), which Airflow masks")
    warnings.warn(message, DeprecationWarning, stacklevel=4)
    log.warning("%s", message)


def _airflow_value(name: str) -> str | None:
    """The Airflow variable ``name`` (environment first), else the password of the connection ``name``."""
    if os.environ.get(f"AIRFLOW_VAR_{name.upper()}"):
        return os.environ[f"AIRFLOW_VAR_{name.upper()}"]
    if "airflow.sdk" not in sys.modules:  # not inside Airflow: never import it just to look
        return None
    try:
        from airflow.sdk import Variable

        return Variable.get(name)
    except Exception:
        pass
    try:
        from airflow.sdk import Connection

        return Connection.get(name).password
    except Exception:
        return None


def _embedded_key_file() -> Path:
    from .warehouse import default_pgdata

    return default_pgdata().parent / "pseudonym.key"


def check_strength(key: str, source: str = "the pseudonymisation key") -> bytes:
    """The key as bytes; ConfigurationError for a short, default-looking or low-variety key."""
    lowered = key.strip().lower()
    if (len(key.encode()) < MIN_KEY_BYTES or lowered in _FORBIDDEN or len(set(key)) < MIN_DISTINCT_CHARS
            or any(lowered.startswith(w) and len(set(lowered[len(w):])) < MIN_DISTINCT_CHARS for w in _FORBIDDEN)):
        raise ConfigurationError(
            f"{source} is too short, a default value or not random; use at least {MIN_KEY_BYTES} random bytes "
            "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return key.encode()


def _mask_in_airflow(key: str) -> None:
    """Inside Airflow, have its secrets masker hide the key in task logs whatever its source."""
    if "airflow.sdk" not in sys.modules:
        return
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(key)
    except ImportError:  # an Airflow without the SDK's masker: the key is still never logged by this package
        pass


def load_key(*, allow_embedded_fallback: bool) -> bytes:
    from .settings import current

    key = current().pseudonym_key or _from_airflow()
    if key:
        _mask_in_airflow(key)
        return check_strength(key)
    if not allow_embedded_fallback:
        raise ConfigurationError(
            f"no pseudonymisation key: set the Airflow variable {AIRFLOW_VARIABLE!r} "
            f"(AIRFLOW_VAR_{AIRFLOW_VARIABLE.upper()}) or {ENV_KEY}; refusing to store personal identifiers"
        )
    path = _embedded_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        log.warning("generated a local pseudonymisation key for the embedded warehouse at %s", path)
    return path.read_text().strip().encode()


class Pseudonymiser:
    """Maps raw identifiers to hex HMAC pseudonyms, caching repeats (a card pays many times)."""

    def __init__(self, key: bytes):
        self._key = key
        self._cache: dict[str, str] = {}
        self.fingerprint = fingerprint(key)

    def __call__(self, raw: str) -> str:
        p = self._cache.get(raw)
        if p is None:
            p = hmac.digest(self._key, raw.strip().encode("utf-8"), "sha256").hex()  # one-shot C HMAC
            if len(self._cache) < 2_000_000:
                self._cache[raw] = p
        return p

    def many(self, values) -> list[str]:
        return [self(v) for v in values]


def fingerprint(key: bytes) -> str:
    """Identifies a key without revealing it (an HMAC of a fixed text under the key)."""
    return hmac.digest(key, _CHECK_TEXT, "sha256").hex()


def verify_key(conn, pseudo: "Pseudonymiser") -> None:
    """Refuse a key other than the one the warehouse's pseudonyms were made with (record it on first use).

    Called inside each file's transaction: the row lock (FOR SHARE) makes a rotation that commits
    meanwhile wait for the file, or the file see the rotated key and stop.
    """
    row = conn.execute("SELECT fingerprint FROM quality.pseudonym_key FOR SHARE").fetchone()
    if row is None:
        conn.execute("INSERT INTO quality.pseudonym_key (fingerprint) VALUES (%s) ON CONFLICT DO NOTHING",
                     (pseudo.fingerprint,))
        row = conn.execute("SELECT fingerprint FROM quality.pseudonym_key FOR SHARE").fetchone()
    if row[0] != pseudo.fingerprint:
        raise ConfigurationError(
            "the pseudonymisation key is not the one this warehouse's pseudonyms were made with: loading with it "
            "would give the same people new pseudonyms. Use the current key, or rotate the stored pseudonyms "
            "first (`python -m campus_logistics pseudonym rotate`, docs/security.md)"
        )


def pseudonymise_fields(fields: list[str], id_index: int, expected: int, pseudo) -> list[str]:
    """A malformed row's fields with every field that may hold the identifier pseudonymised.

    With k fields too many (an unquoted comma earlier in the row) the identifier may sit up to k
    places right of its column; with k too few, up to k places left. All of them are replaced, so no
    raw identifier reaches the quarantine whatever shifted the row.
    """
    out = list(fields)
    extra, missing = max(0, len(out) - expected), max(0, expected - len(out))
    for i in range(max(0, id_index - missing), min(len(out) - 1, id_index + extra) + 1):
        if out[i].strip():
            out[i] = pseudo(out[i])
    return out


@lru_cache(maxsize=4)
def _cached(key: bytes) -> Pseudonymiser:
    return Pseudonymiser(key)


def pseudonymiser(*, allow_embedded_fallback: bool) -> Pseudonymiser:
    return _cached(load_key(allow_embedded_fallback=allow_embedded_fallback))
