"""Settings: the one place that reads the environment (prefix ``DAILYPAPERS_``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
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
    read_database_url: str | None = Field(
        None,
        description="Optional read-only replica URL for feed, search and API reads (PostgreSQL).",
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public root URL of the site, used for absolute links in Atom feeds and mail.",
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
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def current_date(self) -> dt.date:
        """Today's feed date: the TODAY setting, else the clock in the site's timezone."""
        if self.today is not None:
            return self.today
        return dt.datetime.now(self.tz).date()
