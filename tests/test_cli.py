"""The dailypapers command, in process (CliRunner) and as a real subprocess for `demo`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from dailypapers.cli import main
from tests.conftest import DATA_DIR


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"DAILYPAPERS_DATA_DIR": str(tmp_path), "DAILYPAPERS_TODAY": "2026-02-27"})


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
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "demo did not come up"
            time.sleep(0.2)
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert "Friday, February 27, 2026" in home.text
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=20)[0].decode()
    assert "http://127.0.0.1:" in output
    assert "'today' is 2026-02-27" in output
