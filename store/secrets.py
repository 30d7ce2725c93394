"""The deployment's secrets: random keys in files of their own, never in the event store.

One directory (DOSELEDGER_SECRETS_DIR; by default `doseledger/secrets` under the user's config
folder, outside any checkout) holds one file per key, each 32 random bytes written once, with
permissions for the service's user only. A key is made on first use only where the caller says a
new key is right (a new store); elsewhere a missing key is an error naming the file, never a
silent new key (which would make, say, a second person for the same national id).

Back the directory up apart from the database: a database restored without its secrets cannot
find its people by national id; secrets restored beside a stolen database give it away.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

SECRETS_KEY = "DOSELEDGER_SECRETS_DIR"
KEY_BYTES = 32


class MissingSecret(RuntimeError):
    """A key the store needs is not in the secrets directory."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the secret {path.name!r} is missing from {path.parent} ({SECRETS_KEY}): restore it from "
            "the secrets backup; a new one would not match what the store already holds"
        )
        self.path = path


def default_directory() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "doseledger" / "secrets"


def secrets_directory(env: dict[str, str] | None = None) -> Path:
    given = (env or {}).get(SECRETS_KEY) or os.environ.get(SECRETS_KEY)
    return Path(given) if given else default_directory()


class Secrets:
    """The keys in one secrets directory, read once per process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._read: dict[str, bytes] = {}

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Secrets:
        return cls(secrets_directory(env))

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def exists(self, name: str) -> bool:
        return name in self._read or self.path(name).exists()

    def key(self, name: str, *, create: bool = False) -> bytes:
        """The key `name`; made now if absent and `create` (else MissingSecret)."""
        if name not in self._read:
            path = self.path(name)
            if not path.exists():
                if not create:
                    raise MissingSecret(path)
                self._write_new(path)
            self._read[name] = base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
        return self._read[name]

    def _write_new(self, path: Path) -> None:
        """Written under a temporary name and linked into place: of two processes making the
        same key at once, one wins and both read the winner's."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(f".{os.urandom(8).hex()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as out:
                out.write(base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii") + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process made it first: theirs is the key
        finally:
            temporary.unlink(missing_ok=True)
