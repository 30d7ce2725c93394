"""The service's and the CLI's settings: one object, read from DOSELEDGER_<NAME> variables.

Each setting is documented once, in its Field's description; the README's settings table is
checked against this class (tests/test_settings.py). An empty variable means the default. A bad
value stops the start with an error naming the variable.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from intake.codes import province_code
from intake.retro.intake import BACKGROUND_BYTES
from store.replica import separate_read_url
from store.url import DEFAULT_URL

PREFIX = "DOSELEDGER_"
MiB = 1024 * 1024


class InvalidSetting(ValueError):
    """A variable's value the settings cannot use; the message names each variable at fault."""


class Settings(BaseSettings):
    """What the service and the CLI run with: the environment, read when made; or given (tests)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, frozen=True, extra="forbid")

    database_url: str = Field(
        DEFAULT_URL,
        description="the store: `sqlite:///relative.db`, `sqlite:////absolute.db` or "
        "`postgresql://user:pass@host:port/db[?schema=name]`",
    )
    # Checked against database_url when the settings are made (store/replica.py).
    read_database_url: str | None = Field(
        None,
        description="a streaming standby of the PostgreSQL store that serves the projections' reads "
        "(certificates, statistics, lists, reports; `min_position` reads wait for its replay); writes, "
        "the projector and the audit stay on `DOSELEDGER_DATABASE_URL` (unset: everything there; "
        "SQLite has no replica)",
    )
    # Revocations reach every worker sooner: each looks for new ones every
    # `revocation_check_seconds`; this bounds how long a token goes unchecked otherwise.
    token_cache_seconds: float = Field(
        30, ge=0, description="how long a verified token is trusted without a look-up"
    )
    revocation_check_seconds: float = Field(
        0.5,
        gt=0,
        le=30,
        description="how often each worker looks in the store for tokens revoked since its last "
        "look (a revocation reaches every worker within this time and the look's own)",
    )
    group_commit_ms: float = Field(
        2, ge=0, description="single doses arriving this close together share one transaction (0: off)"
    )
    max_body_bytes: int = Field(2 * MiB, gt=0, description="a request body's limit (413 beyond)")
    max_batch_body_bytes: int = Field(8 * MiB, gt=0, description="a batch request body's limit (413 beyond)")
    # Streamed to a file as it arrives, never held in memory.
    max_import_bytes: int = Field(200 * MiB, gt=0, description="a retro-import upload's limit (413 beyond)")
    import_background_bytes: int = Field(
        BACKGROUND_BYTES,
        ge=0,
        description="a retro-import upload larger than this runs in the background (202, then poll)",
    )
    # The standard feeds (HL7 v2, CVRS, FHIR): the ledger registers people in a Vietnamese
    # province, which US-profile messages do not name.
    feed_default_province: str | None = Field(
        None,
        description="a fed person's province when neither the message nor the site's directory entry "
        "gives one (unset: such a record is refused naming the address field)",
    )
    feed_test_codes: bool = Field(
        False,
        description="feeds accept CDC's placeholder CVX codes 900-902 (test data only; unset they are "
        "refused naming the code)",
    )
    import_dir: str | None = Field(
        None, description="where uploads wait while they are imported (unset: the system's temporary folder)"
    )
    import_resume_after_seconds: float = Field(
        60.0,
        gt=0,
        description="a background import whose stream stood still this long was stopped with its process: "
        "it is resumed (or marked failed with what was stored)",
    )
    # Read by the store's adapters (store/secrets.py) as well, which run without these settings.
    secrets_dir: str | None = Field(
        None,
        description="the folder of the deployment's secret keys, kept and backed up apart from the "
        "database (unset: `doseledger/secrets` in the user's config folder)",
    )
    # Read by the anchor's writer and reader (store/anchors.py) as well.
    anchor_dir: str | None = Field(
        None,
        description="the folder of the store's signed anchors and their public key, outside the "
        "database; one folder per store (unset: `doseledger/anchors` in the user's config folder)",
    )
    anchor_interval_seconds: float = Field(
        3600,
        ge=0,
        description="the process running the projections (`doseledger project`, or `serve` with them "
        "embedded) writes a signed anchor of the store this often (0: off; `doseledger anchor` "
        "writes one at any time)",
    )
    # Read by the signing keys (signing/keys.py) as well, which the CLI opens without the API.
    signing_keys_dir: str | None = Field(
        None,
        description="the folder of the certificate signing keys (CSCA, DSCs, SMART Health Card keys), "
        "private keys encrypted with the passphrase; kept and backed up apart from the database "
        "(unset: `doseledger/signing` in the user's config folder)",
    )
    signing_passphrase: str | None = Field(
        None,
        description="the passphrase the private signing keys are encrypted with (required to create, "
        "rotate or sign; verifying needs none)",
    )
    certificate_issuer_url: str = Field(
        "https://doseledger.example",
        description="the SMART Health Cards issuer (`iss`): the URL under which "
        "`/.well-known/jwks.json` is served",
    )
    certificate_issuer: str = Field(
        "Ministry of Health of Viet Nam", description="the EU DCC certificate issuer (`is`)"
    )
    certificate_validity_days: int = Field(
        365, gt=0, description="how long a signed EU DCC is valid after its issuance (`exp` - `iat`)"
    )
    verifications_per_minute: int = Field(
        120,
        gt=0,
        description="QR verifications (`POST /v1/verify`) per client address, all workers together "
        "(429 beyond)",
    )
    # Read by the ledger itself (usecases/application.py), which processes without these
    # settings open too; declared here so that it is checked and documented with the rest.
    decision_budget: float = Field(
        1.0,
        ge=0,
        description="how long a write that lost a race on a record decides again before it answers "
        "503 (keep it under the clients' timeout)",
    )
    read_wait_seconds: float = Field(
        5, ge=0, description="the longest a `min_position` read waits (503 after)"
    )
    correction_overdue_days: float = Field(
        7, ge=0, description="an unanswered correction request older than this is overdue"
    )
    # Enforced by the server on the signed session cookie, not left to the browser's expiry.
    page_session_hours: float = Field(
        8,
        gt=0,
        le=24 * 30,
        description="how long a sign-in to the officials' pages (`/console`) lasts before the "
        "token must be typed again",
    )
    # Slows the guessing of codes. Counted in the store: the limit holds across workers.
    status_checks_per_minute: int = Field(
        10,
        gt=0,
        description="a citizen's status checks and the citizens' page's look-ups (`/citizen/`), per "
        "client address, all workers together (429 beyond); the page's correction filings the same, "
        "counted apart",
    )
    # A vaccinator looks up a few people a minute; a leaked site token scraping the register
    # looks up many. Counted in the store: the limit holds across workers.
    lookups_per_minute: int = Field(
        60,
        gt=0,
        description="a site token's look-ups by phone or national id, all workers together (429 beyond)",
    )
    # Unset, X-Forwarded-For is believed from no one: anyone could otherwise claim any address
    # and escape the per-address limits.
    trusted_proxies: str | None = Field(
        None,
        description="the proxies (comma-separated addresses or CIDRs) whose X-Forwarded-For and "
        "X-Forwarded-Proto give the client's address (unset: none)",
    )
    # Off unless asked for: the service exports its own Prometheus metrics, and with no tracer
    # configured the check alone cost ~4 % of a dose request (it looks up the global providers
    # on every request).
    opentelemetry: bool = Field(
        False, description="1: FastAPI's OpenTelemetry spans and metrics, for a configured OpenTelemetry SDK"
    )
    # The frame is refused (AR) from its head while the rest is dropped as it arrives: this bounds
    # what one connection holds in memory, not only what is booked.
    mllp_max_message_bytes: int = Field(
        1 * MiB, gt=0, description="an HL7 v2 message's limit on the MLLP listener (AR beyond)"
    )
    mllp_peers_file: str | None = Field(
        None,
        description="the MLLP listener's peers (JSON: each peer's name, sites, and addresses or "
        "client certificate subject; unset: no peer is served)",
    )
    host: str = Field("127.0.0.1", description="the address the API listens on (`doseledger serve --host`)")
    port: int = Field(
        8000, ge=0, le=65535, description="the port the API listens on (`doseledger serve --port`)"
    )
    workers: int = Field(
        1, ge=1, description="the API's uvicorn worker processes (`doseledger serve --workers`)"
    )
    # A site's session sends a dose every 30-40 s on one kept-alive connection: the server must
    # hold an idle connection longer than that, or every dose pays a new connection (and, behind
    # a proxy, a race between its reuse and the server's close). uvicorn's own default is 5 s.
    keep_alive_seconds: int = Field(
        5,
        ge=1,
        description="how long the API keeps an idle kept-alive connection open, in whole seconds (above "
        "the clients' longest pause, and above a proxy's idle timeout for its upstream connections)",
    )
    # Capped by the kernel's net.core.somaxconn.
    backlog: int = Field(
        2048, ge=1, description="connections the API's listening socket holds waiting to be accepted"
    )

    @model_validator(mode="after")
    def replica_of_the_store(self) -> Settings:
        """A read URL that names another server is a PostgreSQL standby of the same database and
        schema (a SQLite store has none)."""
        separate_read_url(self.database_url, self.read_database_url)
        return self

    def read_url(self) -> str | None:
        """Where the projections' reads go when not to the store itself (None: to the store)."""
        return separate_read_url(self.database_url, self.read_database_url)

    @field_validator("feed_default_province")
    @classmethod
    def province_code(cls, value: str | None) -> str | None:
        """A Vietnamese province's 2-digit code, as a registration takes it."""
        return None if value is None else province_code(value)

    @field_validator("trusted_proxies")
    @classmethod
    def addresses_or_networks(cls, value: str | None) -> str | None:
        """Each an IP address or a CIDR network: a host name or `*` is refused, not guessed at."""
        if value is None:
            return None
        for item in value.split(","):
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item.strip()!r} is not an IP address or a CIDR network") from None
        return ",".join(item.strip() for item in value.split(","))

    def proxies(self) -> list[str]:
        """The trusted proxies, each an address or a network ([] when unset)."""
        return self.trusted_proxies.split(",") if self.trusted_proxies else []

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise InvalidSetting(
                "; ".join(
                    f"{variable(str(e['loc'][0]))}: {e['msg']} (got {e['input']!r})"
                    if e["loc"]
                    else e["msg"].removeprefix("Value error, ")
                    for e in error.errors()
                )
            ) from None

    @field_validator(
        "max_body_bytes",
        "max_batch_body_bytes",
        "max_import_bytes",
        "import_background_bytes",
        "mllp_max_message_bytes",
        "status_checks_per_minute",
        "lookups_per_minute",
        "certificate_validity_days",
        "verifications_per_minute",
        "port",
        "workers",
        "keep_alive_seconds",
        "backlog",
        mode="before",
    )
    @classmethod
    def whole_number(cls, value: Any) -> Any:
        """`2e6` and `8388608.0` are whole numbers, as they were before these settings."""
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return value  # not a number: the int check names the variable
            return int(number) if number.is_integer() else value
        return value


def variable(name: str) -> str:
    """The environment variable of a setting."""
    return PREFIX + name.upper()
