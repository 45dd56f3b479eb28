from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from dailypapers.config import Settings
from dailypapers.reference_docs import cli_markdown, configuration_markdown

DOCS = Path(__file__).parent.parent / "docs"


def test_configuration_doc_is_generated_from_settings() -> None:
    """Fails when a setting changes without `make docs`."""
    assert (DOCS / "configuration.md").read_text() == configuration_markdown()


def test_cli_doc_is_generated_from_the_commands() -> None:
    """Fails when a command or option changes without `make docs`."""
    assert (DOCS / "cli.md").read_text() == cli_markdown()


def test_every_setting_is_described() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"


def test_environment_is_read_with_the_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DAILYPAPERS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DAILYPAPERS_TODAY", "2026-02-10")
    monkeypatch.setenv("DAILYPAPERS_TIMEZONE", "Europe/Paris")
    settings = Settings()
    assert settings.current_date() == dt.date(2026, 2, 10)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/dailypapers.sqlite3"
    assert str(settings.tz) == "Europe/Paris"


def test_bad_settings_are_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAILYPAPERS_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown timezone"):
        Settings()


def test_clock_uses_the_site_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(timezone="Pacific/Kiritimati")  # UTC+14: usually a day ahead of UTC
    now_there = dt.datetime.now(dt.UTC).astimezone(settings.tz).date()
    assert settings.current_date() == now_there
