"""The dailypapers command, in process (CliRunner) and as a real subprocess for `demo`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from dailypapers.cli import main
from dailypapers.config import Settings
from tests.support import DATA_DIR
from tests.support.live_server import wait_until_healthy

pytestmark = pytest.mark.both_backends


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(
        env={
            "DAILYPAPERS_DATA_DIR": str(tmp_path),
            "DAILYPAPERS_TODAY": "2026-02-27",
            # The worker would also schedule today's digests by the real clock.
            "DAILYPAPERS_DIGEST_ENABLED": "false",
        }
    )


def test_db_upgrade_creates_the_default_sqlite_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database is up to date" in result.output
    assert (tmp_path / "dailypapers.sqlite3").exists()


def test_database_url_setting_is_honoured(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "papers.db"
    result = runner.invoke(
        main, ["db", "upgrade"], env={"DAILYPAPERS_DATABASE_URL": f"sqlite:///{target}"}
    )
    assert result.exit_code == 0, result.output
    assert target.exists()
    assert not (tmp_path / "dailypapers.sqlite3").exists()


def test_ingest_reports_counts_and_is_idempotent(runner: CliRunner) -> None:
    path = str(DATA_DIR / "hf_api_daily_papers_2026-02-10.json")
    first = runner.invoke(main, ["ingest", "hf-daily", path])
    assert first.exit_code == 0, first.output
    assert "│   4 │       0 │         0 │      0 │" in first.output
    again = runner.invoke(main, ["ingest", "hf-daily", path])
    assert "│   0 │       0 │         4 │      0 │" in again.output


def test_ingest_with_bad_lines_names_them_and_exits_1(runner: CliRunner) -> None:
    result = runner.invoke(main, ["ingest", "hf-daily", str(DATA_DIR / "hf_daily_malformed.jsonl")])
    assert result.exit_code == 1
    assert "line 2: malformed JSON" in result.output
    assert "line 8: arxiv_id" in result.output
    assert "│   7 │       0 │         0 │      7 │" in result.output


def test_ingest_of_a_missing_file_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["ingest", "hf-daily", "/no/such/file.jsonl"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_bad_settings_are_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["db", "upgrade"], env={"DAILYPAPERS_TIMEZONE": "Nowhere/City"})
    assert result.exit_code == 1
    assert "invalid settings" in result.output
    assert "unknown timezone" in result.output


def test_demo_without_serving_loads_the_month(runner: CliRunner) -> None:
    result = runner.invoke(main, ["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "│ 783 │" in result.output
    rerun = runner.invoke(main, ["demo", "--no-serve"])
    assert "│   0 │       0 │       808 │      0 │" in rerun.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_demo_serves_the_month_on_loopback(tmp_path: Path) -> None:
    """`dailypapers demo` as a user runs it: loads, picks the data's last day as today, serves."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    env["DAILYPAPERS_DATA_DIR"] = str(tmp_path)
    executable = shutil.which("dailypapers", path=str(Path(sys.executable).parent))
    assert executable is not None
    process = subprocess.Popen(
        [executable, "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process=process)
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert "Friday, February 27, 2026" in home.text
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=20)[0].decode()
    assert "http://127.0.0.1:" in output
    assert "'today' is 2026-02-27" in output
    assert "running beside the server" in output


def test_ingest_snapshot_then_jobs_and_worker(runner: CliRunner) -> None:
    snapshot = str(DATA_DIR / "arxiv_snapshot_150.jsonl.gz")
    result = runner.invoke(main, ["ingest", "snapshot", snapshot])
    assert result.exit_code == 0, result.output
    assert "│ 150 │" in result.output
    listed = runner.invoke(main, ["jobs", "list", "--limit", "3"])
    assert listed.exit_code == 0
    assert listed.output.count("embed_paper") == 3
    # No embedding handler is installed yet: the worker leaves those jobs queued.
    worked = runner.invoke(main, ["worker", "--once"])
    assert worked.exit_code == 0, worked.output
    assert "0 done" in worked.output
    refused = runner.invoke(main, ["jobs", "retry", "1"])
    assert refused.exit_code == 1
    assert "is queued, not failed" in refused.output


def test_ingest_arxiv_refuses_bad_ids_before_any_request(runner: CliRunner) -> None:
    result = runner.invoke(main, ["ingest", "arxiv", "--ids", "2606.17255,not-an-id"])
    assert result.exit_code == 2
    assert "'not-an-id' is not an arXiv id" in result.output
    neither = runner.invoke(main, ["ingest", "arxiv"])
    assert neither.exit_code == 2


def test_ingest_oai_and_arxiv_against_a_local_stand_in(runner: CliRunner) -> None:
    from tests.support.fake_remotes import FakeRemote

    with FakeRemote() as remote:
        env = {
            "DAILYPAPERS_OAI_URL": f"{remote.url}/oai",
            "DAILYPAPERS_ARXIV_API_URL": f"{remote.url}/api/query",
            "DAILYPAPERS_ARXIV_DELAY_SECONDS": "0",
            "DAILYPAPERS_HTTP_MAX_RETRIES": "0",
        }
        harvested = runner.invoke(
            main, ["ingest", "oai", "--set", "cs", "--from", "2026-06-20"], env=env
        )
        assert harvested.exit_code == 0, harvested.output
        assert "│   6 │" in harvested.output
        remote.faults.append(("status", 503, "1"))
        stopped = runner.invoke(main, ["ingest", "arxiv", "--query", "cat:cs.CL"], env=env)
        assert stopped.exit_code == 1
        assert "gave up after 1 attempts (HTTP 503)" in stopped.output
        assert "run the same command again to resume" in stopped.output


def test_calendar_explains_each_day(runner: CliRunner) -> None:
    runner.invoke(main, ["demo", "--no-serve"])
    result = runner.invoke(main, ["calendar", "--from", "2026-02-13", "--until", "2026-02-16"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("2026-02-13  papers")
    assert lines[1].startswith("2026-02-14  weekend")
    assert lines[3].startswith("2026-02-16  papers")
    later = runner.invoke(main, ["calendar", "--from", "2026-02-25", "--until", "2026-02-27"])
    assert "not_ingested" not in later.output


def test_links_point_where_the_server_listens_unless_base_url_is_set() -> None:
    from dailypapers.cli.serve import with_listening_base_url

    assert (
        with_listening_base_url(Settings(), "127.0.0.1", 8917).base_url == "http://127.0.0.1:8917"
    )
    assert with_listening_base_url(Settings(), "0.0.0.0", 9000).base_url == "http://127.0.0.1:9000"
    assert with_listening_base_url(Settings(), "::1", 9000).base_url == "http://[::1]:9000"
    chosen = Settings(base_url="https://papers.example.org")
    assert with_listening_base_url(chosen, "0.0.0.0", 9000).base_url == "https://papers.example.org"
