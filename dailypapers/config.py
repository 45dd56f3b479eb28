"""Settings: the one place that reads the environment (prefix ``DAILYPAPERS_``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "DAILYPAPERS_"


class Settings(BaseSettings):
    """Every knob of the site. Build one and pass it to ``create_app`` / ``make_engine``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path = Field(
        Path("var"),
        description="Folder for the default SQLite database and other local state.",
    )
    database_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of the database, e.g. `sqlite:////srv/dp.sqlite3` or "
            "`postgresql+psycopg://user:pw@host/db`. Unset: `sqlite:///<DATA_DIR>/dailypapers.sqlite3`."
        ),
    )
    model_dir: Path | None = Field(
        None,
        description=(
            "Folder of the exported embedding model (`dailypapers model export`). "
            "Unset: `<DATA_DIR>/model`. Without it search is lexical only."
        ),
    )
    embedding_int8: bool = Field(
        False,
        description=(
            "Encode with the int8-quantized model: faster, the same ranking quality on the "
            "evaluation (docs/benchmarks.md). Its vectors are stored under their own model "
            "name, so switching re-embeds every paper (`dailypapers index rebuild`)."
        ),
    )
    embedding_threads: int = Field(
        0, ge=0, le=64, description="ONNX Runtime threads for embeddings; 0 = one per core."
    )
    malloc_arena_max: int = Field(
        2,
        ge=0,
        le=1024,
        description=(
            "glibc malloc arenas the server's threads share, set when `serve` starts; 0 = glibc's "
            "default (8 per core), under which freed memory piles up per thread and RSS climbs."
        ),
    )
    read_database_url: str | None = Field(
        None,
        description="Optional read-only replica URL for feed, search and API reads (PostgreSQL).",
    )
    read_your_writes_seconds: int = Field(
        10,
        ge=1,
        description="With READ_DATABASE_URL: how long a client that just wrote reads from the "
        "primary (longer than the replica's worst replay lag).",
    )
    database_pool_size: int = Field(
        20,
        ge=1,
        le=1000,
        description=(
            "Database connections kept open per process; up to as many again open under load. "
            "Keep it above the server's worker threads (40) so no request waits for one."
        ),
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description=(
            "Public root URL of the site, used for absolute links in Atom feeds and mail. "
            "Unset: `serve` and `demo` use the address they listen on."
        ),
    )
    site_name: str = Field("Daily Papers", description="Name shown in page titles and feeds.")
    timezone: str = Field(
        "UTC",
        description="IANA timezone in which a feed day starts and ends (e.g. `Europe/Paris`).",
    )
    today: dt.date | None = Field(
        None,
        description=(
            "Fixed 'today' (YYYY-MM-DD) for demos and tests. Unset: the real clock in TIMEZONE."
        ),
    )
    feed_page_size: int = Field(
        50, ge=1, le=500, description="Cards per page on the day, week and month pages."
    )
    trending_window_hours: float = Field(
        24.0,
        gt=0,
        description=(
            "Trending half-life in hours: a paper submitted this much later needs ten times fewer "
            "upvotes to rank the same (see /about/ranking)."
        ),
    )

    job_max_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="Attempts before a job stays `failed` (see `jobs list --failed`).",
    )
    job_retry_base_seconds: float = Field(
        30.0, gt=0, description="First retry delay; each later one doubles, with ±50 % jitter."
    )
    job_retry_cap_seconds: float = Field(3600.0, gt=0, description="Longest retry delay.")
    job_lease_seconds: float = Field(
        900.0,
        gt=0,
        description="A running job whose worker has been silent this long is taken by another.",
    )
    worker_poll_seconds: float = Field(
        2.0, gt=0, description="How often an idle worker looks for due jobs."
    )
    harvest_enabled: bool = Field(
        False,
        description=(
            "Let the worker harvest arXiv (OAI-PMH) every day at HARVEST_TIME. Off by default: "
            "a fresh install sends no traffic anywhere."
        ),
    )
    harvest_time: dt.time = Field(
        dt.time(6, 0), description="Local time (in TIMEZONE) of the daily harvest, HH:MM."
    )
    harvest_set: str = Field("cs", description="OAI-PMH set of the daily harvest (e.g. `cs`).")

    offline: bool = Field(
        False,
        description=(
            "Never ask arXiv on a user's behalf: a submission or library import naming a paper "
            "that is not in the store is refused or reported not found instead of fetched."
        ),
    )
    arxiv_api_url: str = Field(
        "https://export.arxiv.org/api/query", description="arXiv API endpoint (Atom)."
    )
    oai_url: str = Field("https://oaipmh.arxiv.org/oai", description="arXiv OAI-PMH 2.0 endpoint.")
    hf_api_url: str = Field(
        "https://huggingface.co",
        description="Hugging Face site whose `/api/daily_papers` `ingest hf-daily --date` reads.",
    )
    arxiv_delay_seconds: float = Field(
        3.0,
        ge=0,
        description="Pause between requests to arXiv (its API terms ask for 3 seconds).",
    )
    http_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one HTTP request.")
    http_max_retries: int = Field(
        5,
        ge=0,
        le=20,
        description="Retries of a request after HTTP 429/503 (honouring Retry-After) or a drop.",
    )
    http_user_agent: str = Field(
        "dailypapers/0.1 (self-hosted; +https://github.com/dailypapers)",
        description="User-Agent sent to arXiv and Hugging Face.",
    )
    holidays: list[dt.date] = Field(
        default_factory=list,
        description=(
            "Days with no Daily Papers list besides weekends (JSON list, "
            '`["2026-12-25", "2027-01-01"]`); the feed says "holiday" on them.'
        ),
    )

    secret_key: SecretStr | None = Field(
        None,
        description=(
            "Key that signs the links sent by mail (account and subscription confirmation, "
            "password reset, email change) and the sign-in cookie. Unset: a random key is made "
            "once and kept in `DATA_DIR/secret_key`; set it when several machines serve the site."
        ),
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Addresses of reverse proxies whose `X-Forwarded-For` names the client (JSON list, "
            '`["127.0.0.1"]`); per-IP rate limits use that client address.'
        ),
    )

    session_max_age_days: int = Field(
        30, ge=1, le=400, description="Days a sign-in lasts without signing in again."
    )
    password_min_length: int = Field(10, ge=8, le=128, description="Shortest password accepted.")
    submit_daily_cap: int = Field(
        10, ge=1, description="Papers one account may put on the Daily Papers list per day."
    )
    submit_max_age_days: int = Field(
        7,
        ge=1,
        le=3650,
        description="Only papers published on arXiv at most this many days ago can be submitted.",
    )
    limit_signin_per_ip: str = Field("30/hour", description="Sign-in attempts per client address.")
    limit_signin_per_account: str = Field(
        "10/hour", description="Sign-in attempts per account (by username and email together)."
    )
    limit_signup_per_ip: str = Field("10/hour", description="Sign-ups per client address.")
    limit_reset_per_ip: str = Field("10/hour", description="Password-reset requests per address.")
    limit_reset_per_account: str = Field(
        "3/hour", description="Password-reset mails per account (by the address typed)."
    )
    limit_submit_per_ip: str = Field("60/hour", description="Submissions per client address.")
    limit_submit_per_account: str = Field("30/hour", description="Submissions per account.")
    limit_vote_per_ip: str = Field("1200/hour", description="Upvotes and un-votes per address.")
    limit_vote_per_account: str = Field("600/hour", description="Upvotes and un-votes per account.")
    limit_comment_per_ip: str = Field("60/hour", description="Comments per client address.")
    limit_comment_per_account: str = Field("30/hour", description="Comments per account.")
    limit_email_per_ip: str = Field(
        "10/hour", description="Email-change and new-link requests per address."
    )
    limit_email_per_account: str = Field(
        "3/hour", description="Email-change and new-link requests per account."
    )
    limit_write_per_ip: str = Field(
        "600/hour",
        description=(
            "Other writes per client address: comment edits and deletions, organizations and "
            "their invitations, API tokens, moderation actions, subscription changes."
        ),
    )
    limit_write_per_account: str = Field("300/hour", description="Those other writes per account.")
    limit_library_per_ip: str = Field(
        "3000/hour", description="Saves, collection and note changes, read marks per address."
    )
    limit_library_per_account: str = Field(
        "1500/hour", description="Saves, collection and note changes, read marks per account."
    )
    limit_import_per_ip: str = Field("30/hour", description="Library imports per address.")
    limit_import_per_account: str = Field("20/hour", description="Library imports per account.")
    require_verified_email: bool = Field(
        True,
        description=(
            "Votes, comments, submissions and organizations need a confirmed email address "
            "(accounts made with `dailypapers user create` are confirmed). Off only where "
            "every account is known, since sign-ups then write without a working mailbox."
        ),
    )
    limit_mail_per_address: str = Field(
        "3/day",
        description=(
            "Unrequested account mails (sign-up with a taken address, email-change links) one "
            "address receives per day, whoever asks; more are dropped without telling."
        ),
    )

    mailer: Literal["smtp", "console"] = Field(
        "smtp",
        description=(
            "How mail leaves: `smtp` (the SMTP_* settings) or `console` (printed to the "
            "worker's output; what `make demo` uses, nothing is delivered)."
        ),
    )
    smtp_host: str = Field("localhost", description="SMTP server (your relay or provider).")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (587 for STARTTLS, 465 TLS).")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "none",
        description=(
            "`starttls` (upgrade on connect, port 587), `tls` (implicit TLS, port 465) or `none` "
            "(a relay on this machine; credentials are then refused for a remote host)."
        ),
    )
    smtp_ca_file: Path | None = Field(
        None,
        description=(
            "CA certificates (PEM) that sign the SMTP server's certificate, for a relay with a "
            "private CA. Unset: the system's trusted CAs."
        ),
    )
    smtp_username: str | None = Field(None, description="SMTP login, if the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one SMTP exchange.")
    mail_from: str = Field(
        "Daily Papers <digest@localhost>",
        description="From header of every mail (use an address your domain's SPF/DKIM cover).",
    )
    mail_unsubscribe_address: str | None = Field(
        None,
        description=(
            "Inbound address that unsubscribes whoever writes to it; when set, `List-Unsubscribe` "
            "also carries a `mailto:` (the https one-click URL is always there)."
        ),
    )

    digest_enabled: bool = Field(
        True, description="Let the worker send the daily and weekly digests on schedule."
    )
    digest_daily_time: dt.time = Field(
        dt.time(8, 0),
        description=(
            "Local time (TIMEZONE) of the daily digest, sent Monday to Friday with the previous "
            "weekday's papers."
        ),
    )
    digest_weekly_day: int = Field(
        1,
        ge=1,
        le=7,
        description="ISO weekday of the weekly digest (1 = Monday), with the previous ISO week.",
    )
    digest_weekly_time: dt.time = Field(
        dt.time(8, 0), description="Local time (TIMEZONE) of the weekly digest."
    )
    digest_default_papers: int = Field(
        10, ge=1, le=50, description="Papers in a digest unless the subscriber chose a number."
    )
    digest_empty_period: Literal["note", "skip"] = Field(
        "note",
        description=(
            "When a period has no papers for a subscription: `note` sends a short mail saying why "
            "(weekend, holiday, nothing matched the topic), `skip` sends nothing."
        ),
    )
    digest_max_hard_failures: int = Field(
        3,
        ge=1,
        description="Permanent (5xx) refusals in a row after which a subscription is deactivated.",
    )
    digest_max_attempts: int = Field(
        5, ge=1, le=50, description="Tries of one digest mail on temporary (4xx) SMTP errors."
    )
    digest_chunk_size: int = Field(
        250,
        ge=1,
        le=5000,
        description="Subscriptions per send job; several workers share a period's jobs.",
    )
    subscribe_confirm_days: int = Field(
        7, ge=1, description="Days a subscription's confirmation link stays valid."
    )
    subscribe_limit_per_ip: str = Field(
        "10/hour",
        description="Subscribe requests one client address may make (`N/second|minute|hour|day`).",
    )
    subscribe_limit_per_address: str = Field(
        "3/day",
        description="Confirmation or sample mails one email address may be sent (`N/period`).",
    )

    webhook_allow_private: bool = Field(
        False,
        description=(
            "Let webhooks reach private, loopback and link-local addresses (RFC 1918, "
            "127.0.0.0/8, ::1, 169.254.0.0/16, fc00::/7, …). Off by default: a webhook URL is "
            "user input, and on it a user could make the server call the machines behind it. "
            "Only for tests and intranets where every user is trusted (docs/webhooks.md)."
        ),
    )
    webhook_max_per_user: int = Field(5, ge=1, le=100, description="Webhooks one account may have.")
    webhook_disable_after_failures: int = Field(
        5,
        ge=1,
        le=1000,
        description=(
            "Alert deliveries in a row that failed every attempt (JOB_MAX_ATTEMPTS, with "
            "backoff) after which a webhook is disabled and its owner told."
        ),
    )
    webhook_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="Timeout of one webhook request (connect, send, read)."
    )
    limit_webhook_per_ip: str = Field(
        "60/hour", description="Webhooks added and test deliveries sent per client address."
    )
    limit_webhook_per_account: str = Field(
        "30/hour", description="Webhooks added and test deliveries sent per account."
    )

    vector_index: Literal["auto", "exact", "ann"] = Field(
        "auto",
        description=(
            "Nearest-neighbour index of the embeddings: `exact` (scan every vector), `ann` (an "
            "HNSW graph, built in the background at start) or `auto` (exact below "
            "VECTOR_ANN_MIN_VECTORS vectors, HNSW above)."
        ),
    )
    vector_ann_min_vectors: int = Field(
        200_000, ge=1, description="Vectors from which `auto` builds an HNSW graph."
    )
    vector_ann_ef_search: int = Field(
        128,
        ge=1,
        le=4096,
        description=(
            "HNSW beam width per query: higher finds more of the true neighbours, more slowly "
            "(recall and latency by width: docs/benchmarks.md)."
        ),
    )
    vector_dtype: Literal["float16", "float32"] = Field(
        "float16",
        description=(
            "Precision vectors are held in memory for search: `float16` halves memory and scan "
            "time with cosines within ~1e-3 of `float32`."
        ),
    )
    vector_refresh_seconds: float = Field(
        5.0,
        ge=0,
        description="How often a process looks for new or changed vectors to fold into its index.",
    )

    @field_validator(
        "subscribe_limit_per_ip",
        "subscribe_limit_per_address",
        "limit_signin_per_ip",
        "limit_signin_per_account",
        "limit_signup_per_ip",
        "limit_reset_per_ip",
        "limit_reset_per_account",
        "limit_submit_per_ip",
        "limit_submit_per_account",
        "limit_vote_per_ip",
        "limit_vote_per_account",
        "limit_comment_per_ip",
        "limit_comment_per_account",
        "limit_email_per_ip",
        "limit_email_per_account",
        "limit_write_per_ip",
        "limit_write_per_account",
        "limit_library_per_ip",
        "limit_library_per_account",
        "limit_import_per_ip",
        "limit_import_per_account",
        "limit_webhook_per_ip",
        "limit_webhook_per_account",
        "limit_mail_per_address",
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        from dailypapers.rate_limits import parse_rate

        parse_rate(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}; expected an IANA name") from exc
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        """The database URL in effect (the SQLite default spelled out)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dailypapers.sqlite3').resolve()}"

    @property
    def resolved_model_dir(self) -> Path:
        """Where the exported embedding model lives."""
        return self.model_dir if self.model_dir is not None else self.data_dir / "model"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def current_date(self) -> dt.date:
        """Today's feed date: the TODAY setting, else the clock in the site's timezone."""
        if self.today is not None:
            return self.today
        return dt.datetime.now(self.tz).date()
