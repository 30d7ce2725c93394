"""Signed checkpoints of the event store (anchors), kept in a folder outside the database.

An anchor says, at one moment: the store's notification position, every stream's head (stream
id, version, chain digest), a Merkle root over those heads, and an Ed25519 signature over the
root and the rest of the header. Someone who rewrites the database cannot rewrite the anchors
too unless they also hold the signing key (a secret of the secrets folder) and the anchor folder.

The folder holds one file per anchor, named by its time (`anchor-20261205T211600123456Z.json`,
gzip-compressed as `.json.gz` when it lists many streams), each written under a temporary name
and linked into place so that it appears whole and is never overwritten, and the public key
(`anchor-signing.pub`, PEM) so that anyone can check the signatures without the secret.

The Merkle tree: a leaf is sha256(0x00 || "stream\\nversion\\ndigest"), over the heads in
stream id order; a node is sha256(0x01 || left || right); an odd node last in its level moves
up unchanged. The prefixes keep a leaf from passing for a node. An empty store's root is
sha256 of nothing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ANCHOR_DIR_KEY = "DOSELEDGER_ANCHOR_DIR"
FORMAT = "doseledger-anchor/1"
PUBLIC_KEY_FILE = "anchor-signing.pub"
PREFIX = "anchor-"
COMPRESS_FROM = 1000  # heads; below this an anchor stays plain JSON, readable as it is


class AnchorError(RuntimeError):
    """An anchor that cannot be written or read as it should."""


@dataclass(frozen=True, order=True)
class Head:
    """A stream's last event at the anchor's position."""

    stream_id: str  # the UUID's canonical text
    version: int
    digest: str


@dataclass(frozen=True)
class Anchor:
    written_at: str  # ISO 8601, UTC
    position: int
    heads: tuple[Head, ...]  # in stream id order
    merkle_root: str
    signature: str  # base64 of the Ed25519 signature of `signed_bytes()`
    name: str = ""  # the file it was read from

    def signed_bytes(self) -> bytes:
        return signed_header(self.written_at, self.position, len(self.heads), self.merkle_root)

    def heads_by_stream(self) -> dict[str, Head]:
        return {h.stream_id: h for h in self.heads}


def signed_header(written_at: str, position: int, streams: int, root: str) -> bytes:
    """What the signature covers: the header, whose Merkle root commits to every head."""
    header = {
        "format": FORMAT,
        "written_at": written_at,
        "position": position,
        "streams": streams,
        "merkle_root": root,
    }
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _leaf(head: Head) -> bytes:
    return hashlib.sha256(b"\x00" + f"{head.stream_id}\n{head.version}\n{head.digest}".encode()).digest()


def merkle_root(heads: Iterable[Head]) -> str:
    level = [_leaf(h) for h in sorted(heads)]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        pairs = zip(level[0::2], level[1::2], strict=False)  # the odd one out, if any, is left
        paired = [hashlib.sha256(b"\x01" + a + b).digest() for a, b in pairs]
        level = paired + level[len(paired) * 2 :]  # and moves up unchanged
    return level[0].hex()


def signing_key(seed: bytes) -> Ed25519PrivateKey:
    """The anchor signing key from its 32-byte secret (the secrets folder's `anchor`)."""
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def default_directory() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "doseledger" / "anchors"


def anchor_directory(env: dict[str, str] | None = None) -> Path:
    given = (env or {}).get(ANCHOR_DIR_KEY) or os.environ.get(ANCHOR_DIR_KEY)
    return Path(given) if given else default_directory()


class AnchorFolder:
    """The anchors of one store, and the public key that checks them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AnchorFolder:
        return cls(anchor_directory(env))

    @property
    def public_key_path(self) -> Path:
        return self.directory / PUBLIC_KEY_FILE

    # --- writing ---------------------------------------------------------------------------

    def write(
        self, position: int, heads: Iterable[Head], key: Ed25519PrivateKey, now: datetime | None = None
    ) -> Anchor:
        """Sign and store an anchor of these heads at `position`; a new file, never a replaced one."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._publish(key.public_key())
        ordered = tuple(sorted(heads))
        written = (now or datetime.now(UTC)).astimezone(UTC)
        when = written.isoformat()
        root = merkle_root(ordered)
        signature = base64.b64encode(key.sign(signed_header(when, position, len(ordered), root)))
        anchor = Anchor(when, position, ordered, root, signature.decode("ascii"))
        body = json.dumps(
            {
                "format": FORMAT,
                "written_at": when,
                "position": position,
                "streams": len(ordered),
                "merkle_root": root,
                "signature": anchor.signature,
                "heads": [[h.stream_id, h.version, h.digest] for h in ordered],
            },
            separators=(",", ":"),
        ).encode()
        compressed = len(ordered) >= COMPRESS_FROM
        name = PREFIX + written.strftime("%Y%m%dT%H%M%S%fZ") + (".json.gz" if compressed else ".json")
        self._create(self.directory / name, gzip.compress(body, mtime=0) if compressed else body)
        return Anchor(when, position, ordered, root, anchor.signature, name)

    def _publish(self, public: Ed25519PublicKey) -> None:
        """Write the public key beside the anchors once; a different one there is refused, since
        anchors signed with another key would not check against it."""
        pem = public_pem(public)
        path = self.public_key_path
        if not path.exists():
            self._create(path, pem, exist_ok=True)
        if path.read_bytes() != pem:
            raise AnchorError(
                f"{PUBLIC_KEY_FILE} in the anchor folder is not the public key of the anchor "
                "secret: the secret was replaced, or the folder belongs to another deployment"
            )

    def _create(self, path: Path, data: bytes, exist_ok: bool = False) -> None:
        """Whole or not at all, and never over an existing file: written and synced under a
        temporary name, then linked to its name (which fails if the name is taken)."""
        temporary = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                if not exist_ok:
                    raise AnchorError(f"an anchor named {path.name} exists already: not replaced") from None
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # the new name survives a crash too
        finally:
            os.close(directory)

    # --- reading ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The anchors' file names, oldest first (the names sort by time)."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p.name
            for p in self.directory.iterdir()
            if p.name.startswith(PREFIX) and p.name.endswith((".json", ".json.gz"))
        )

    def latest(self) -> Anchor | None:
        names = self.names()
        return self.read(names[-1]) if names else None

    def read(self, name: str) -> Anchor:
        try:
            data = (self.directory / name).read_bytes()
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            found: dict[str, Any] = json.loads(data)
            if found.get("format") != FORMAT:
                raise ValueError(f"format {found.get('format')!r}, not {FORMAT!r}")
            heads = tuple(Head(str(s), int(v), str(d)) for s, v, d in found["heads"])
            return Anchor(
                str(found["written_at"]),
                int(found["position"]),
                heads,
                str(found["merkle_root"]),
                str(found["signature"]),
                name,
            )
        except (OSError, ValueError, KeyError, TypeError, EOFError) as e:
            raise AnchorError(f"the anchor {name} cannot be read: {e}") from e

    def public_key(self) -> Ed25519PublicKey | None:
        if not self.public_key_path.exists():
            return None
        key = serialization.load_pem_public_key(self.public_key_path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise AnchorError(f"{PUBLIC_KEY_FILE} is not an Ed25519 public key")
        return key


def anchor_problems(anchor: Anchor, public: Ed25519PublicKey | None) -> list[str]:
    """What is wrong with the anchor itself: a Merkle root its heads do not give, a signature
    the public key does not accept. None: it is what its signer wrote."""
    problems = []
    if merkle_root(anchor.heads) != anchor.merkle_root:
        problems.append("its Merkle root does not follow from the heads it lists: the heads were edited")
    if public is None:
        problems.append(f"no public key ({PUBLIC_KEY_FILE}) beside the anchors to check its signature")
    else:
        try:
            public.verify(base64.b64decode(anchor.signature), anchor.signed_bytes())
        except (InvalidSignature, ValueError):
            problems.append("its signature does not verify with the anchor public key")
    return problems
