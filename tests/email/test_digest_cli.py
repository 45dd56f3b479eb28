"""``dailypapers digest send|preview`` against a real SMTP server."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dailypapers.cli import main
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from tests.factories import add_subscription
from tests.support.database import database_env
from tests.support.smtp import SmtpRecorder

pytestmark = pytest.mark.both_backends


def _runner(settings: Settings) -> CliRunner:
    return CliRunner(
        env={
            "DAILYPAPERS_DATA_DIR": str(settings.data_dir),
            **database_env(settings),
            "DAILYPAPERS_TODAY": "2026-02-27",
            "DAILYPAPERS_BASE_URL": "http://testserver",
            "DAILYPAPERS_SMTP_HOST": "127.0.0.1",
            "DAILYPAPERS_SMTP_PORT": str(settings.smtp_port),
        }
    )


def _subscribers(settings: Settings, *addresses: str, **fields: object) -> None:
    engine = make_engine(settings)
    with make_session_factory(engine).begin() as session:
        for address in addresses:
            add_subscription(session, address, **fields)  # type: ignore[arg-type]
    engine.dispose()


def test_digest_send_delivers_a_period_once_and_reports(
    mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    _subscribers(mail_settings, "a@example.org", "b@example.org")
    runner = _runner(mail_settings)
    first = runner.invoke(main, ["digest", "send", "--period", "daily:2026-02-10"])
    assert first.exit_code == 0, first.output
    assert "daily:2026-02-10: 2 sent, 0 skipped, 0 failed, 0 waiting for a retry" in first.output
    again = runner.invoke(main, ["digest", "send", "--period", "daily:2026-02-10"])
    assert again.exit_code == 0, again.output
    assert len(smtp.messages) == 2


def test_digest_send_exits_1_while_mails_wait_for_a_retry(
    mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    _subscribers(mail_settings, "a@example.org")
    smtp.data_replies = ["451 4.3.0 Try later"]
    result = _runner(mail_settings).invoke(main, ["digest", "send", "--period", "daily:2026-02-10"])
    assert result.exit_code == 1
    assert "1 waiting for a retry" in result.output


def test_a_bad_period_is_a_usage_error(mail_settings: Settings) -> None:
    for period in ("daily:2026-02-30", "monthly:2026-02", "2026-02-10"):
        result = _runner(mail_settings).invoke(main, ["digest", "send", "--period", period])
        assert result.exit_code == 2
        assert "--period" in result.output


def test_digest_preview_prints_without_sending(mail_settings: Settings, smtp: SmtpRecorder) -> None:
    _subscribers(mail_settings, "reader@example.org", topic="agents", cadence="weekly")
    runner = _runner(mail_settings)
    result = runner.invoke(
        main, ["digest", "preview", "--email", "Reader@example.org", "--period", "weekly:2026-W07"]
    )
    assert result.exit_code == 0, result.output
    assert "Subject: Daily Papers on “agents” · Week 7, 2026" in result.output
    html = runner.invoke(main, ["digest", "preview", "--html"])
    assert html.exit_code == 0, html.output
    assert "<table" in html.output
    unknown = runner.invoke(main, ["digest", "preview", "--email", "nobody@example.org"])
    assert unknown.exit_code == 2
    assert "has no subscription" in unknown.output
    assert smtp.messages == []
