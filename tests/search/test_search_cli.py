"""``dailypapers search``: a table or the API's JSON, on a copy of the demo month."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from dailypapers.cli import main
from dailypapers.config import Settings
from tests.support.database import database_env

pytestmark = pytest.mark.both_backends


PAPERBANANA = "2601.23265"


def _runner(settings: Settings) -> CliRunner:
    env = {
        "DAILYPAPERS_DATA_DIR": str(settings.data_dir),
        **database_env(settings),
        "DAILYPAPERS_TODAY": "2026-02-27",
        "DAILYPAPERS_DIGEST_ENABLED": "false",
        "COLUMNS": "200",  # rich wraps the table to the terminal's width
    }
    if settings.model_dir is not None:
        env["DAILYPAPERS_MODEL_DIR"] = str(settings.model_dir)
    return CliRunner(env=env)


def _rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│")]


def test_a_table_best_first(demo_settings: Settings) -> None:
    result = _runner(demo_settings).invoke(
        main, ["search", "PaperBanana", "academic", "illustration", "--limit", "3"]
    )
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == [
        "#",
        "arXiv id",
        "title",
        "date",
        "upvotes",
        "score",
    ]
    rows = _rows(result.stdout)
    assert len(rows) == 3
    first = [cell.strip() for cell in rows[0].strip("│").split("│")]
    assert first[:2] == ["1", PAPERBANANA]
    assert first[2].startswith("PaperBanana: Automating Academic Illustration")
    assert first[3:5] == ["2026-02-02", "188"]
    float(first[5])
    # Without a model the search says it matched words only (on stderr, not in the table).
    assert "Semantic search is unavailable" in result.stderr


def test_an_exact_id_is_pinned(demo_settings: Settings) -> None:
    result = _runner(demo_settings).invoke(main, ["search", PAPERBANANA])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert PAPERBANANA in rows[0]
    assert "pinned" in rows[0]


def test_json_is_what_the_api_returns(demo_settings: Settings, demo_client: TestClient) -> None:
    query = 'agents cat:cs.CL has:code -survey "tool use"'
    result = _runner(demo_settings).invoke(main, ["search", query, "--json", "--limit", "7"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    served = demo_client.get("/api/papers/search", params={"q": query, "limit": 7}).json()
    assert printed == served
    assert 0 < len(printed) <= 7


def test_semantic_search_from_the_command_line(search_settings: Settings) -> None:
    result = _runner(search_settings).invoke(
        main, ["search", "drawing figures scientific manuscripts", "--json", "--limit", "10"]
    )
    assert result.exit_code == 0, result.output
    assert PAPERBANANA in [item["paper"]["id"] for item in json.loads(result.stdout)]
    assert "Semantic search is unavailable" not in result.stderr


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from:2026-13", "from:2026-13 is not a real date"),
        ("has:pdf", "has:code is the one there is"),
    ],
)
def test_a_malformed_filter_exits_2_with_the_reason(
    demo_settings: Settings, query: str, message: str
) -> None:
    result = _runner(demo_settings).invoke(main, ["search", query])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_no_matches_and_a_bad_limit(demo_settings: Settings) -> None:
    runner = _runner(demo_settings)
    nothing = runner.invoke(main, ["search", "qwxzjvkq"])
    assert nothing.exit_code == 0
    assert "no papers match" in nothing.stderr
    assert json.loads(runner.invoke(main, ["search", "qwxzjvkq", "--json"]).stdout) == []
    assert runner.invoke(main, ["search", "agents", "--limit", "0"]).exit_code == 2
    assert runner.invoke(main, ["search"]).exit_code == 2


def test_markup_in_a_query_is_printed_not_interpreted(demo_settings: Settings) -> None:
    # rich would read "[/x]" as a closing tag and crash with MarkupError (exit 1).
    result = _runner(demo_settings).invoke(main, ["search", "from:[/x]"])
    assert result.exit_code == 2, result.output
    assert "[/x]" in result.stderr


def test_bytes_that_are_not_utf8_in_argv_do_not_crash(demo_settings: Settings) -> None:
    # A Latin-1 terminal's "café" reaches Python as "caf\udce9" (a lone surrogate).
    result = _runner(demo_settings).invoke(main, ["search", "caf\udce9", "agents"])
    assert result.exit_code == 0, result.output
    assert "agents" in result.stdout.lower() or "no papers match" in result.stderr
