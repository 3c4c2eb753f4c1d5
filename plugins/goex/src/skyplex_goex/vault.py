"""Credential vault: named secrets encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`).

Secrets never enter prompts, logs, previews or sandboxes: actions refer to them as ``{{secret:NAME}}``
and only the credential proxy substitutes the real value, on the way out to an allowed service.
The key comes from the ``key`` argument, else SKYPLEX_GOEX_VAULT_KEY, else a key file (mode 0600)
created beside the vault; keep that file out of backups that travel with the vault.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from skyplex.errors import InvalidInputError, NotFoundError, SkyplexError

KEY_ENV = "SKYPLEX_GOEX_VAULT_KEY"
PLACEHOLDER = re.compile(r"\{\{secret:([A-Za-z0-9_.-]+)\}\}")


class VaultError(SkyplexError):
    status_code = 500
    error_type = "vault_error"


class Vault:
    """Named secrets in one encrypted file."""

    def __init__(self, path: Path, *, key: str | None = None, key_file: Path | None = None) -> None:
        self.path = path
        key = key or os.environ.get(KEY_ENV)
        if key is None:
            if key_file is None:
                raise VaultError(f"no vault key: pass key=, set {KEY_ENV}, or give a key_file")
            if not key_file.exists():
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(Fernet.generate_key())
            key = key_file.read_text().strip()
        try:
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        except ValueError:
            raise VaultError("the vault key is not a valid Fernet key (32 url-safe base64 bytes)") from None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            return json.loads(self._fernet.decrypt(self.path.read_bytes()))
        except InvalidToken:
            raise VaultError(f"cannot decrypt the vault {self.path}: wrong key, or the file was altered") from None

    def _save(self, data: dict[str, str]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self._fernet.encrypt(json.dumps(data).encode()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def set(self, name: str, value: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise InvalidInputError(f"secret name {name!r} may use letters, digits, '_', '.', '-'", field="name")
        with self._lock:
            data = self._load()
            data[name] = value
            self._save(data)

    def delete(self, name: str) -> None:
        with self._lock:
            data = self._load()
            data.pop(name, None)
            self._save(data)

    def names(self) -> list[str]:
        return sorted(self._load())

    def substitute(self, text: str, allowed: set[str]) -> str:
        """``text`` with each ``{{secret:NAME}}`` replaced, refusing names not in ``allowed``."""
        data = self._load()

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in allowed:
                raise VaultError(f"secret {name!r} is not allowed for this service (allowed: {sorted(allowed)})")
            if name not in data:
                raise NotFoundError(f"no secret {name!r} in the vault; add it with `skyplex goex secret set {name}`")
            return data[name]

        return PLACEHOLDER.sub(repl, text)

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by its placeholder (for responses, logs, journals)."""
        for name, value in self._load().items():
            if value:
                text = text.replace(value, "{{secret:%s}}" % name)
        return text
