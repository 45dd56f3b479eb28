"""A loopback stand-in for arXiv and Hugging Face, serving the recorded fixtures in tests/data.

Routes: ``/api/query`` (arXiv API: by ``start`` / ``id_list``), ``/oai`` (OAI-PMH: by
``metadataPrefix`` / ``resumptionToken``), ``/api/daily_papers`` (HF: by ``date`` and ``p``).
``faults`` is a queue applied to the next requests, in order: ``("status", 429, "7")`` answers
that status with that Retry-After, ``("drop",)`` closes the connection without an answer.
Every request is recorded (path and query) for assertions.
"""

from __future__ import annotations

import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.support import DATA_DIR

API_PAGES = {0: "query_page_0.xml", 5: "query_page_1.xml", 10: "query_page_2.xml"}


class FakeRemote:
    def __init__(self) -> None:
        self.faults: deque[tuple[object, ...]] = deque()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.routes: dict[str, bytes] = {}  # exact "path?sorted-query" overrides
        self.hf_days: dict[str, bytes] = {}
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                remote.requests.append((parts.path, query))
                if remote.faults:
                    fault = remote.faults.popleft()
                    if fault[0] == "drop":
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.send_response(int(fault[1]))  # type: ignore[call-overload]
                    if len(fault) > 2:
                        self.send_header("Retry-After", str(fault[2]))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body, kind = remote.answer(parts.path, query)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, bytes, str]:
        if path == "/api/query":
            if query.get("id_list") == "1234":
                return (
                    200,
                    (DATA_DIR / "arxiv_api/error_bad_id.xml").read_bytes(),
                    "application/atom+xml",
                )
            if "id_list" in query:
                return (
                    200,
                    (DATA_DIR / "arxiv_api/id_list.xml").read_bytes(),
                    "application/atom+xml",
                )
            if "submittedDate" in query.get("search_query", ""):
                return (
                    200,
                    (DATA_DIR / "arxiv_api/query_empty.xml").read_bytes(),
                    "application/atom+xml",
                )
            name = self.routes.get("api", b"").decode() or API_PAGES.get(int(query.get("start", 0)))
            if name is None:
                return (
                    200,
                    (DATA_DIR / "arxiv_api/query_empty.xml").read_bytes(),
                    "application/atom+xml",
                )
            return 200, (DATA_DIR / "arxiv_api" / name).read_bytes(), "application/atom+xml"
        if path == "/oai":
            token = query.get("resumptionToken")
            if "oai" in self.routes:
                return 200, self.routes["oai"], "text/xml"
            if token == "6942261|1001":
                name = "listrecords_arxiv_page2.xml"
            elif token:
                name = "bad_resumption_token.xml"
            elif query.get("metadataPrefix") == "arXivRaw":
                name = "listrecords_arxivraw.xml"
            elif query.get("from", "") >= "2026-07-05":
                name = "no_records_match.xml"
            else:
                name = "listrecords_arxiv_page1.xml"
            return 200, (DATA_DIR / "oai" / name).read_bytes(), "text/xml"
        if path == "/api/daily_papers":
            day = query.get("date", "")
            if query.get("p", "0") != "0" or day not in self.hf_days:
                return 200, b"[]", "application/json"
            return 200, self.hf_days[day], "application/json"
        return 404, b"not found", "text/plain"

    def __enter__(self) -> FakeRemote:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
