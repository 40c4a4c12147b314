"""A local stand-in for Grafana's HTTP API: the endpoints `grafana-client` calls for Phare's
folder, data source and dashboards, with Grafana's answers (status codes and bodies), keeping
what it is sent. No Grafana server can be installed here, so the provisioning tests talk to
this one; it serves on 127.0.0.1 from a thread of the test.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    next_id: int = 1

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        path = self.path.split("?", 1)[0]
        state = self.server.state
        state.requests.append(Request(method, path, dict(self.headers.items()), body))
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            return self._answer(401, {"message": "invalid API key"})
        status, answer = self.server.route(method, path, body)
        self._answer(status, answer)

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GrafanaState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.lock = threading.Lock()

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            return self._route(method, path, body)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        s = self.state
        if (method, path) == ("GET", "/api/frontend/settings"):
            return 200, {"buildInfo": {"version": "11.3.0", "commit": "stand-in"}}
        if (method, path) == ("GET", "/api/folders"):
            return 200, list(s.folders.values())
        if m := re.fullmatch(r"/api/folders/([^/]+)", path):
            uid = m.group(1)
            if uid not in s.folders:
                return 404, {"message": "folder not found", "status": "not-found"}
            if method == "GET":
                return 200, s.folders[uid]
            if method == "PUT":
                s.folders[uid] = {**s.folders[uid], "title": body["title"],
                                  "version": s.folders[uid]["version"] + 1}
                return 200, s.folders[uid]
        if (method, path) == ("POST", "/api/folders"):
            uid = body.get("uid") or f"gen{s.new_id()}"
            if uid in s.folders or any(f["title"] == body["title"] for f in s.folders.values()):
                return 409, {"message": "a folder with the same name already exists"}
            s.folders[uid] = {"id": s.new_id(), "uid": uid, "title": body["title"], "version": 1}
            return 200, s.folders[uid]
        if m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path):
            uid = m.group(1)
            if uid not in s.datasources:
                return 404, {"message": "Data source not found"}
            if method == "GET":
                return 200, s.datasources[uid]
            if method == "PUT":
                s.datasources[uid] = {**body, "id": s.datasources[uid]["id"], "uid": uid,
                                      "version": s.datasources[uid]["version"] + 1}
                return 200, {"message": "Datasource updated", "datasource": s.datasources[uid]}
        if (method, path) == ("POST", "/api/datasources"):
            if any(d["name"] == body["name"] for d in s.datasources.values()):
                return 409, {"message": "data source with the same name already exists"}
            uid = body["uid"]
            s.datasources[uid] = {**body, "id": s.new_id(), "version": 1}
            return 200, {"message": "Datasource added", "id": s.datasources[uid]["id"],
                         "datasource": s.datasources[uid]}
        if (method, path) == ("POST", "/api/dashboards/db"):
            board = body["dashboard"]
            uid = board["uid"]
            if uid in s.dashboards and not body.get("overwrite"):
                return 412, {"message": "A dashboard with the same uid already exists",
                             "status": "name-exists"}
            if body.get("folderUid") and body["folderUid"] not in s.folders:
                return 400, {"message": "folder not found"}
            version = s.dashboards.get(uid, {}).get("version", 0) + 1
            s.dashboards[uid] = {"dashboard": board, "folderUid": body.get("folderUid"),
                                 "version": version}
            return 200, {"id": s.new_id(), "uid": uid, "status": "success", "version": version,
                         "url": f"/d/{uid}/x"}
        return 404, {"message": f"stand-in has no {method} {path}"}


class FakeGrafana:
    """The stand-in, started and stopped by the test."""

    def __init__(self, token: str) -> None:
        self.state = GrafanaState(token)
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-grafana")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
