"""The certificate signing keys: files in a folder of their own, never in the repository or the store.

One folder (DOSELEDGER_SIGNING_KEYS_DIR; by default `doseledger/signing` under the user's config
folder) holds

    csca.crt, csca.key            the country signing CA (`csca.py`): self-signed, signs DSCs only
    generations/0001/ ...         one generation per `create` or `rotate`:
        dsc.crt, dsc.key          the document signer certificate (EU DCC), issued by the CSCA
        shc.key, shc.jwk          the SMART Health Cards ES256 key, and its public JWK
        generation.json           when it was made (public)

The newest generation is current; older ones are retired but stay: certificates they signed
keep verifying for as long as the DSC is valid, so the trust list and the JWKS list every key
ever made. Private keys are PKCS#8 PEM encrypted with the passphrase
(DOSELEDGER_SIGNING_PASSPHRASE); without one nothing is written, so no key is ever stored in
clear. A creation or a rotation is made in a temporary folder beside its target and renamed into
place: a crash leaves no half-made generation, and of two processes racing, one wins.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import os
import re
import shutil
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from signing.csca import country as country_of
from signing.csca import issued_dsc, self_signed_csca
from signing.shc import public_jwk
from signing.trust import TrustList, dsc_kid

KEYS_DIR_KEY = "DOSELEDGER_SIGNING_KEYS_DIR"
PASSPHRASE_KEY = "DOSELEDGER_SIGNING_PASSPHRASE"

_GENERATION = re.compile(r"^\d{4,}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class SigningKeysError(RuntimeError):
    """Something about the signing keys the operator must fix; the message says what."""


class MissingPassphrase(SigningKeysError):
    def __init__(self) -> None:
        super().__init__(
            f"no passphrase for the signing keys: set {PASSPHRASE_KEY} (keys are never stored unencrypted)"
        )


class WrongPassphrase(SigningKeysError):
    def __init__(self, folder: Path) -> None:
        super().__init__(f"the passphrase in {PASSPHRASE_KEY} does not open the signing keys in {folder}")


class KeysExist(SigningKeysError):
    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"signing keys already exist in {folder}: not overwriting them (rotate them instead)"
        )


class NoKeys(SigningKeysError):
    def __init__(self, folder: Path) -> None:
        super().__init__(f"no signing keys in {folder}: create them first (doseledger keys create)")


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed: public facts only, never the private key."""

    kind: str  # "csca" | "dcc" | "shc"
    kid: str  # base64 of the 8-byte kid (csca, dcc); the JWK thumbprint (shc)
    created: datetime
    not_before: datetime
    not_after: datetime | None  # an SHC key has no validity of its own
    current: bool
    retired: bool

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for name in ("created", "not_before", "not_after"):
            found[name] = _iso(found[name]) if found[name] else None
        return found


@dataclass(frozen=True)
class KeySigner:
    """A `signing.signer.Signer`: ES256 with a private key, its signature as raw r || s."""

    kid: bytes
    private_key: ec.EllipticCurvePrivateKey

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self.private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def __repr__(self) -> str:  # never the key, in a log or a traceback
        return f"KeySigner(kid={self.kid!r})"


def default_directory() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "doseledger" / "signing"


def keys_directory(env: dict[str, str] | None = None) -> Path:
    given = (env or {}).get(KEYS_DIR_KEY) or os.environ.get(KEYS_DIR_KEY)
    return Path(given) if given else default_directory()


# Decrypted keys, by file and passphrase: decrypting a PEM costs a key derivation, paid once a
# process rather than once a signature, whichever SigningKeys object asks.
_decrypted: dict[tuple[str, bytes], ec.EllipticCurvePrivateKey] = {}
_decrypting = threading.Lock()


class SigningKeys:
    """The signing keys in one folder, opened with one passphrase (None: public parts only)."""

    def __init__(self, directory: Path, passphrase: str | None = None) -> None:
        self.directory = directory
        self._passphrase = passphrase or None

    def __repr__(self) -> str:
        return f"SigningKeys({str(self.directory)!r})"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SigningKeys:
        """The folder and passphrase from `env`, else the process's environment (the processes
        that sign run without the API's settings)."""
        passphrase = (env or {}).get(PASSPHRASE_KEY) or os.environ.get(PASSPHRASE_KEY)
        return cls(keys_directory(env), passphrase)

    # -- making keys

    def exists(self) -> bool:
        return (self.directory / "csca.crt").exists()

    def create(self, country: str = "VN", organisation: str = "doseledger") -> builtins.list[KeyInfo]:
        """A CSCA, and a first generation: a DSC it issues and an SHC key. Refuses an existing set."""
        passphrase = self._required_passphrase()
        if not _COUNTRY.match(country):
            raise SigningKeysError(f"country: {country!r} is not an ISO 3166 two-letter code such as VN")
        if not organisation.strip():
            raise SigningKeysError("organisation: empty")
        if self.exists() or (self.directory.is_dir() and any(self.directory.iterdir())):
            raise KeysExist(self.directory)
        self.directory.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        building = _scratch(self.directory)
        try:
            now = _now()
            csca_key = ec.generate_private_key(ec.SECP256R1())
            csca = self_signed_csca(csca_key, country=country, organisation=organisation, now=now)
            _write(building / "csca.crt", csca.public_bytes(serialization.Encoding.PEM))
            _write(building / "csca.key", _encrypted(csca_key, passphrase))
            first = _private_folder(_private_folder(building / "generations") / "0001")
            self._generation(first, 1, csca, csca_key, passphrase, now)
            try:
                # Over an empty folder (one made for the keys), never over a full one.
                os.rename(building, self.directory)
            except OSError as error:
                if self.exists() or (self.directory.is_dir() and any(self.directory.iterdir())):
                    raise KeysExist(self.directory) from None  # another process made them first
                raise SigningKeysError(
                    f"the keys could not be moved into {self.directory} ({error.strerror}): name a "
                    "folder that does not exist yet, or an empty one that is not a mount point"
                ) from None
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return self.list()

    def rotate(self) -> builtins.list[KeyInfo]:
        """A new generation (DSC issued by the same CSCA, SHC key) becomes current; the old stay."""
        passphrase = self._required_passphrase()
        if not self.exists():
            raise NoKeys(self.directory)
        csca = self._csca()
        csca_key = self._private(self.directory / "csca.key")
        generations = self.directory / "generations"
        while True:
            number = max((int(g.name) for g in self._generations()), default=0) + 1
            building = _scratch(generations / f"{number:04d}")
            try:
                self._generation(building, number, csca, csca_key, passphrase, _now())
                try:
                    os.rename(building, generations / f"{number:04d}")
                    break
                except OSError:
                    if not (generations / f"{number:04d}").exists():
                        raise
                    # Another rotation took this number at the same moment: take the next one.
            finally:
                shutil.rmtree(building, ignore_errors=True)
        return self.list()

    def _generation(
        self,
        folder: Path,
        number: int,
        csca: x509.Certificate,
        csca_key: ec.EllipticCurvePrivateKey,
        passphrase: bytes,
        now: datetime,
    ) -> None:
        dsc_key = ec.generate_private_key(ec.SECP256R1())
        dsc = issued_dsc(csca, csca_key, dsc_key.public_key(), number=number, now=now)
        shc_key = ec.generate_private_key(ec.SECP256R1())
        _write(folder / "dsc.key", _encrypted(dsc_key, passphrase))
        _write(folder / "dsc.crt", dsc.public_bytes(serialization.Encoding.PEM))
        _write(folder / "shc.key", _encrypted(shc_key, passphrase))
        _write(folder / "shc.jwk", json.dumps(public_jwk(shc_key.public_key())).encode())
        _write(folder / "generation.json", json.dumps({"created": _iso(now)}).encode())

    # -- reading keys

    def list(self) -> builtins.list[KeyInfo]:
        """Every key ever made, oldest first: the CSCA, then each generation's DSC and SHC key."""
        if not self.exists():
            return []
        csca = self._csca()
        found = [
            KeyInfo(
                "csca",
                _b64(dsc_kid(csca)),
                csca.not_valid_before_utc,
                csca.not_valid_before_utc,
                csca.not_valid_after_utc,
                current=True,
                retired=False,
            )
        ]
        generations = self._generations()
        for generation in generations:
            current = generation == generations[-1]
            created = datetime.fromisoformat(
                json.loads((generation / "generation.json").read_text(encoding="utf-8"))["created"]
            )
            dsc = _certificate(generation / "dsc.crt")
            found.append(
                KeyInfo(
                    "dcc",
                    _b64(dsc_kid(dsc)),
                    created,
                    dsc.not_valid_before_utc,
                    dsc.not_valid_after_utc,
                    current=current,
                    retired=not current,
                )
            )
            found.append(
                KeyInfo(
                    "shc",
                    _jwk(generation)["kid"],
                    created,
                    created,
                    None,
                    current=current,
                    retired=not current,
                )
            )
        return found

    def dcc_signer(self) -> KeySigner | None:
        """The current DSC's key; None when there are no keys."""
        current = self._current()
        if current is None:
            return None
        return KeySigner(dsc_kid(_certificate(current / "dsc.crt")), self._private(current / "dsc.key"))

    def shc_signer(self) -> KeySigner | None:
        """The current SMART Health Cards key; None when there are no keys."""
        current = self._current()
        if current is None:
            return None
        return KeySigner(_jwk(current)["kid"].encode("ascii"), self._private(current / "shc.key"))

    def dscs(self) -> builtins.list[x509.Certificate]:
        """Every DSC ever made, oldest first."""
        return [_certificate(g / "dsc.crt") for g in self._generations()]

    def trust_list(self) -> builtins.list[dict[str, Any]]:
        """Every DSC, current and retired, in the shape of the EU gateway's DSC trust list."""
        entries = []
        for generation in self._generations():
            dsc = _certificate(generation / "dsc.crt")
            der = dsc.public_bytes(serialization.Encoding.DER)
            created = json.loads((generation / "generation.json").read_text(encoding="utf-8"))["created"]
            entries.append(
                {
                    "kid": _b64(dsc_kid(dsc)),
                    "country": country_of(dsc),
                    "certificateType": "DSC",
                    "thumbprint": hashlib.sha256(der).hexdigest(),
                    "rawData": _b64(der),
                    "notBefore": _iso(dsc.not_valid_before_utc),
                    "notAfter": _iso(dsc.not_valid_after_utc),
                    "timestamp": created,
                }
            )
        return entries

    def jwks(self) -> dict[str, builtins.list[dict[str, str]]]:
        """Every SMART Health Cards key's public JWK, current and retired."""
        return {"keys": [_jwk(g) for g in self._generations()]}

    def trust(self, issuer_url: str) -> TrustList:
        """What a verifier of this deployment's certificates trusts: every DSC, every SHC key."""
        return TrustList.of_dscs(self.dscs()).add_jwks(issuer_url, self.jwks())

    # -- the folder

    def _generations(self) -> builtins.list[Path]:
        folder = self.directory / "generations"
        if not folder.is_dir():
            return []
        return sorted(
            (g for g in folder.iterdir() if _GENERATION.match(g.name) and g.is_dir()),
            key=lambda g: int(g.name),
        )

    def _current(self) -> Path | None:
        generations = self._generations()
        return generations[-1] if generations else None

    def _csca(self) -> x509.Certificate:
        return _certificate(self.directory / "csca.crt")

    def _required_passphrase(self) -> bytes:
        if not self._passphrase:
            raise MissingPassphrase()
        return self._passphrase.encode("utf-8")

    def _private(self, path: Path) -> ec.EllipticCurvePrivateKey:
        passphrase = self._required_passphrase()
        cached = (str(path.resolve()), hashlib.sha256(passphrase).digest())
        with _decrypting:
            if cached not in _decrypted:
                try:
                    key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
                except ValueError:
                    raise WrongPassphrase(self.directory) from None
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise SigningKeysError(f"{path.name} in {self.directory} is not an EC key")
                _decrypted[cached] = key
            return _decrypted[cached]


def _jwk(generation: Path) -> dict[str, str]:
    found: dict[str, str] = json.loads((generation / "shc.jwk").read_text(encoding="utf-8"))
    return found


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _encrypted(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def _scratch(target: Path) -> Path:
    """A private folder beside `target` (same file system, so a rename moves it into place)."""
    return _private_folder(target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp"))


def _private_folder(folder: Path) -> Path:
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)  # whatever the umask
    return folder


def _write(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
