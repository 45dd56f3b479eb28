"""Which URLs a webhook may call (SSRF), with WEBHOOK_ALLOW_PRIVATE off and on."""

from __future__ import annotations

from pathlib import Path

import pytest

from dailypapers.webhooks import service
from dailypapers.webhooks.targets import TargetError, resolve
from tests.support.database import make_settings

PUBLIC = "webhooks can only reach public addresses."


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8000/h", f"The address 127.0.0.1 is a loopback address: {PUBLIC}"),
        ("http://10.1.2.3/h", f"The address 10.1.2.3 is a private address: {PUBLIC}"),
        (
            "http://169.254.169.254/latest/meta-data",
            f"The address 169.254.169.254 is a link-local address: {PUBLIC}",
        ),
        ("http://[::1]/h", f"The address ::1 is a loopback address: {PUBLIC}"),
        (
            "http://[::ffff:127.0.0.1]/h",
            f"The address ::ffff:7f00:1 is a loopback address (it embeds 127.0.0.1): {PUBLIC}",
        ),
        (
            "http://localhost:8000/h",
            f"localhost resolves to 127.0.0.1, a loopback address: {PUBLIC}",
        ),
        ("http://2130706433/h", f"2130706433 resolves to 127.0.0.1, a loopback address: {PUBLIC}"),
        ("http://[fc00::1]/h", f"The address fc00::1 is a private address: {PUBLIC}"),
        ("http://224.0.0.1/h", f"The address 224.0.0.1 is a multicast address: {PUBLIC}"),
        ("http://0.0.0.0/h", f"The address 0.0.0.0 is an unspecified address: {PUBLIC}"),
    ],
)
def test_private_targets_are_refused_with_a_clear_message(
    tmp_path: Path, url: str, message: str
) -> None:
    settings = make_settings(tmp_path)
    assert not settings.webhook_allow_private  # the default
    with pytest.raises(service.WebhookError) as refused:
        service.check_target(settings, url)
    assert str(refused.value) == message


def test_a_name_resolving_to_any_private_address_is_refused() -> None:
    with pytest.raises(TargetError, match=r"resolves to 10\.0\.0\.5, a private address"):
        resolve(
            "https://mixed.example/h",
            allow_private=False,
            resolver=lambda host, port: ["93.184.216.34", "10.0.0.5"],
        )
    target = resolve(
        "https://pub.example:8443/h?x=1",
        allow_private=False,
        resolver=lambda host, port: ["2606:4700::1111"],
    )
    assert target.connect_url == "https://[2606:4700::1111]:8443/h?x=1"
    assert target.host_header == "pub.example:8443"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://a.example/" + "x" * 10_000, "The URL is longer than 2000 characters."),
        ("javascript:alert(1)", "Only http:// and https:// URLs can receive webhooks."),
        ("file:///etc/passwd", "Only http:// and https:// URLs can receive webhooks."),
        ("ftp://a.example/", "Only http:// and https:// URLs can receive webhooks."),
        (
            "http://<script>alert(1)</script>/",
            "The host name <script>alert(1)< is not valid.",  # the host ends at the first /,
        ),
        ("http://a.example/\x00", "The URL holds spaces or control characters."),
        (
            "http://u:p@a.example/",
            "Leave credentials out of the URL (user:password@…); sign with the secret.",
        ),
        ("http://a.example:99999/", "The URL's port is not a number from 1 to 65535."),
        ("", "Type the URL that should receive the alerts."),
    ],
)
def test_hostile_urls_are_refused_before_any_lookup(url: str, message: str) -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("resolved a URL that should have been refused first")

    with pytest.raises(TargetError) as refused:
        resolve(url, allow_private=False, resolver=no_dns)
    assert str(refused.value) == message


def test_allow_private_lets_loopback_through_but_not_multicast(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, webhook_allow_private=True)
    assert service.check_target(settings, "http://localhost:8000/h") == "http://localhost:8000/h"
    assert service.check_target(settings, "http://[::1]:9/h") == "http://[::1]:9/h"
    with pytest.raises(service.WebhookError, match="multicast"):
        service.check_target(settings, "http://224.0.0.1/h")
