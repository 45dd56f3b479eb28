"""Schemathesis against ``/openapi.json``: no request is a 5xx, and every answer is one the
schema declares (status, media type, body).

Bounded so that ``make test`` stays quick: each operation gets a fixed number of derandomized
examples, and once a run has spent its time budget the remaining examples are not sent. Each
run fuzzes one app on one backend, as one of three callers: anonymous, signed in with the
session cookie (and its CSRF token in ``X-CSRF-Token``), and with an API token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from dailypapers.config import Settings
from dailypapers.web.app import create_app
from tests.factories import api_token, make_user
from tests.support.web_client import sign_in

pytestmark = pytest.mark.both_backends

EXAMPLES_PER_OPERATION = 12
RUN_BUDGET_SECONDS = 25.0
CALLERS = ["anonymous", "session", "token"]
# What a signed-in run must not send: these end its own session or account.
# Not positive_data_acceptance: a schema-valid string can still be a malformed arXiv id or
# period, which is a 400 (DESIGN.md §5) that a JSON Schema pattern cannot describe.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
SELF_ENDING = {("POST", "/signout"), ("POST", "/account/delete"), ("POST", "/account/password")}


@dataclass
class Caller:
    """Headers and cookies sent with every case, and the run's budget."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    deadline: float = 0.0
    sent: int = 0
    unsent: int = 0


@pytest.fixture(params=CALLERS)
def caller(request: pytest.FixtureRequest, demo_settings: Settings) -> Iterator[Caller]:
    who = Caller(request.param)
    if who.name != "anonymous":
        user_id = make_user(demo_settings, "fuzzer", role="admin")
        if who.name == "token":
            who.headers["Authorization"] = f"Bearer {api_token(demo_settings, user_id)}"
        else:
            with TestClient(create_app(demo_settings)) as client:
                sign_in(client, "fuzzer")
                page = client.get("/account").text
                who.cookies = dict(client.cookies)
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            who.headers["X-CSRF-Token"] = token
    who.deadline = time.monotonic() + RUN_BUDGET_SECONDS
    yield who
    print(f"fuzz {who.name}: {who.sent} cases sent, {who.unsent} left unsent by the budget")


def _operations(app: object, caller: Caller) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    if caller.name == "anonymous":
        return operations
    return [op for op in operations if (op.method.upper(), op.path) not in SELF_ENDING]


def _without_lifespan(app: ASGIApp) -> ASGIApp:
    """The app without its startup and shutdown (schemathesis opens a client, and so a
    lifespan, per request, and each shutdown would dispose the engine's pool), and with an
    unhandled error left as the 500 that Starlette sent, as a real server does."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            try:
                await app(scope, receive, send)
            except Exception:
                return  # not_a_server_error reports it with the request that caused it
            return
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    return serve


def _fuzz(
    operation: schemathesis.APIOperation, mode: GenerationMode, caller: Caller, app: ASGIApp
) -> None:
    @given(operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        if time.monotonic() > caller.deadline:
            caller.unsent += 1
            return
        caller.sent += 1
        case.call_and_validate(
            headers=caller.headers,
            cookies=caller.cookies,
            checks=CHECKS,
            app=app,
            allow_redirects=False,
        )

    run()


def _summary(operation: schemathesis.APIOperation, mode: GenerationMode, failure: Failure) -> str:
    message = " ".join(failure.message.split())[:400]
    return f"{operation.label} [{mode.value}] {failure.code} {failure.title}: {message}"


def _fuzz_operation(
    operation: schemathesis.APIOperation, caller: Caller, app: ASGIApp
) -> list[str]:
    """Positive then negative cases; every failure found, one line each."""
    failures: list[str] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        try:
            _fuzz(operation, mode, caller, app)
        except FailureGroup as group:
            failures += [_summary(operation, mode, failure) for failure in group.exceptions]
        except Failure as failure:
            failures.append(_summary(operation, mode, failure))
        except Unsatisfiable:
            # No input of this operation can be made invalid (it takes none).
            assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


def test_api_conforms_to_its_schema(demo_settings: Settings, caller: Caller) -> None:
    app = create_app(demo_settings)
    failures: list[str] = []
    with TestClient(app):  # one startup and shutdown for the whole run
        for operation in _operations(app, caller):
            failures += _fuzz_operation(operation, caller, _without_lifespan(app))
    assert not failures, "\n".join(failures)
