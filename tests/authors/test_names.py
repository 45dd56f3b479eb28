"""The author key merges only spellings that differ in form, never in substance."""

from __future__ import annotations

import pytest

from dailypapers.authors.names import author_key, author_slug, key_of_slug


@pytest.mark.parametrize(
    "spelling",
    [
        "José-Luis Pérez",
        "Jose Luis Perez",
        "PÉREZ, José-Luis",
        "jose  luis perez",
        "José‐Luis Pérez",
    ],
)
def test_spellings_of_one_name_share_a_key(spelling: str) -> None:
    assert author_key(spelling) == "jose luis perez"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("J. Smith", "John Smith"),
        ("Smith", "John Smith"),
        ("Li Wei", "Wei Li"),
        ("Jun Li", "Jun Lu"),
    ],
)
def test_names_that_may_be_two_people_stay_apart(one: str, other: str) -> None:
    assert author_key(one) != author_key(other)


def test_suffixes_and_odd_input() -> None:
    assert author_key("Martin Luther King, Jr.") == "martin luther king jr"
    assert author_key("\x00 ,. - ") == ""
    assert author_key("<b>Yann</b> LeCun") == "b yann b lecun"  # markup is text, never HTML
    assert author_key("王 小明") == "王 小明"


def test_the_slug_round_trips() -> None:
    slug = author_slug("Yann LeCun")
    assert slug == "yann-lecun"
    assert key_of_slug(slug) == author_key("Yann LeCun")
    assert key_of_slug("Yann-LeCun") == "yann lecun"
