"""The bounded load of the crash harness (bench/crash_harness.py): votes, comments and
submissions against a server that is SIGKILLed under it, with what each request is known to
have done, so the harness can tell an acknowledged write that got lost from one in flight.

Each account's actions come from one thread, one at a time, so the last answered action on a
(user, paper) pair is the state that must be in the store, unless a later one went unanswered
(the connection died with the server): then either outcome is allowed.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PAUSE_SECONDS = 0.02  # between two requests of one thread: bounded, not a flood
DOWN_PAUSE_SECONDS = 0.25  # after a refused connection (the server is being restarted)


@dataclass
class Account:
    username: str
    password: str
    token: str  # API token (Authorization: Bearer)


@dataclass
class LoadRecord:
    """What the load sent and what it is owed: shared by the threads, under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: Counter[str] = field(default_factory=Counter)  # "vote:200", "comment:conn", …
    # (username, arxiv id) → True/False when the last action was answered, None when unknown.
    votes: dict[tuple[str, str], bool | None] = field(default_factory=dict)
    comments: dict[str, bool | None] = field(default_factory=dict)  # body → stored? (None: ?)
    submissions: dict[str, str] = field(default_factory=dict)  # arxiv id → "200" | "409" | "?"

    def count(self, kind: str, outcome: str) -> None:
        with self.lock:
            self.outcomes[f"{kind}:{outcome}"] += 1

    @property
    def requests(self) -> int:
        return sum(self.outcomes.values())

    def acknowledged(self) -> str:
        """The writes the server answered as done (each must be in the store)."""
        with self.lock:
            submitted = sum(1 for state in self.submissions.values() if state in ("200", "409"))
            return (
                f"votes and un-votes {self.outcomes['vote:200']}, "
                f"comments {self.outcomes['comment:303']}, submissions {submitted}"
            )


def _outcome(response: httpx.Response | None) -> str:
    if response is None:
        return "conn"
    if response.status_code >= 500:
        return "5xx"
    return str(response.status_code)


class Load:
    """Threads that act until ``stop()``; each request is followed by a short pause."""

    def __init__(
        self,
        base_url: str,
        accounts: list[Account],
        papers: list[str],
        record: LoadRecord,
        *,
        seed: int,
        submit_ids: list[str],
    ) -> None:
        self.base_url = base_url
        self.accounts = accounts
        self.papers = papers
        self.record = record
        self.seed = seed
        self.submit_ids = submit_ids
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        voters, commenters = self.accounts[:-2], self.accounts[-2:-1]
        for index, account in enumerate(voters):
            self._spawn(self._votes, account, index)
        for index, account in enumerate(commenters):
            self._spawn(self._comments, account, index)
        self._spawn(self._submissions, self.accounts[-1], 0)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _spawn(self, target: Callable[[Account, int], None], account: Account, index: int) -> None:
        thread = threading.Thread(
            target=target, args=(account, index), daemon=True, name=f"load-{account.username}"
        )
        self._threads.append(thread)
        thread.start()

    def _request(
        self, client: httpx.Client, kind: str, method: str, path: str, **kwargs: object
    ) -> httpx.Response | None:
        try:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            response = None
        self.record.count(kind, _outcome(response))
        self._stop.wait(PAUSE_SECONDS if response is not None else DOWN_PAUSE_SECONDS)
        return response

    def _client(self, account: Account | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {account.token}"} if account else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=15)

    def _votes(self, account: Account, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        with self._client(account) as client:
            while not self._stop.is_set():
                paper = rng.choice(self.papers)
                on = rng.random() < 0.6
                key = (account.username, paper)
                with self.record.lock:
                    self.record.votes[key] = None  # unknown until answered
                response = self._request(
                    client, "vote", "POST" if on else "DELETE", f"/api/papers/{paper}/upvote"
                )
                if response is not None and response.status_code == 200:
                    with self.record.lock:
                        self.record.votes[key] = bool(response.json()["voted"])
                elif response is not None:  # refused: nothing changed, but take no side (unknown)
                    with self.record.lock:
                        self.record.votes[key] = None

    def _sign_in(self, client: httpx.Client, account: Account) -> str | None:
        """Sign in with the form, as a browser would; returns the session's CSRF token."""
        page = self._request(client, "signin", "GET", "/signin")
        match = _CSRF.search(page.text) if page is not None else None
        if match is None:
            return None
        form = {"login": account.username, "password": account.password, "csrf_token": match[1]}
        answer = self._request(client, "signin", "POST", "/signin", data=form)
        if answer is None or answer.status_code != 303:
            return None
        # The CSRF token of the signed-in session, read from a page with a form.
        page = self._request(client, "signin", "GET", f"/papers/{self.papers[0]}")
        match = _CSRF.search(page.text) if page is not None else None
        return match[1] if match else None

    def _comments(self, account: Account, index: int) -> None:
        rng = random.Random(self.seed * 2000 + index)
        number = 0
        with self._client() as client:
            csrf = None
            while not self._stop.is_set():
                if csrf is None:
                    csrf = self._sign_in(client, account)
                    continue
                number += 1
                body = f"crash-harness comment by {account.username} #{number}"
                with self.record.lock:
                    self.record.comments[body] = None
                paper = rng.choice(self.papers)
                response = self._request(
                    client,
                    "comment",
                    "POST",
                    f"/papers/{paper}/comments",
                    data={"body": body, "csrf_token": csrf},
                )
                with self.record.lock:
                    if response is not None and response.status_code == 303:
                        self.record.comments[body] = True
                    elif response is not None:
                        self.record.comments[body] = False
                        csrf = None  # a refused form: sign in again (the session may be gone)

    def _submissions(self, account: Account, _index: int) -> None:
        pending = list(self.submit_ids)
        with self._client(account) as client:
            while pending and not self._stop.is_set():
                arxiv_id = pending[0]
                self.submit(client, arxiv_id)
                if self.record.submissions.get(arxiv_id) != "?":
                    pending.pop(0)
                self._stop.wait(0.2)  # a submission asks arXiv: fewer of them

    def submit(self, client: httpx.Client, arxiv_id: str) -> None:
        """Submit once; an unanswered try stays "?" and is tried again; after an unanswered
        try, "already on the list" (409) means the first one went through."""
        response = self._request(
            client, "submit", "POST", "/api/papers/submit", json={"paper_id": arxiv_id}
        )
        before = self.record.submissions.get(arxiv_id)
        with self.record.lock:
            if response is None:
                self.record.submissions[arxiv_id] = "?"
            elif response.status_code == 200:
                self.record.submissions[arxiv_id] = "200"
            elif response.status_code == 409 and before == "?":
                self.record.submissions[arxiv_id] = "409"
            else:
                self.record.submissions[arxiv_id] = f"refused {response.status_code}"

    def settle_submissions(self) -> None:
        """After the load: ask again for every submission whose answer was lost."""
        account = self.accounts[-1]
        with self._client(account) as client:
            for arxiv_id, state in list(self.record.submissions.items()):
                tries = 0
                while state == "?" and tries < 5:
                    self.submit(client, arxiv_id)
                    state = self.record.submissions[arxiv_id]
                    tries += 1
                    if state == "?":
                        time.sleep(1)
