"""A local stub of the Hugging Face Hub HTTP API, enough for regular-file uploads and downloads.

Serve it on 127.0.0.1 (ephemeral port) and point `HF_ENDPOINT` at `stub.endpoint`. Routes (hf-notes §7):

    POST /api/repos/create                          create a repo (409 when it exists)
    POST /api/{type}s/{repo}/branch/{branch}        create a branch from main (409 when it exists)
    POST /api/{type}s/{repo}/preupload/{rev}        every file: uploadMode "regular" (never LFS / xet)
    POST /api/{type}s/{repo}/commit/{rev}           NDJSON commit with base64 file contents
    POST /api/validate-yaml                         local YAML parse of a README header
    GET|HEAD /{repo}/resolve/{rev}/{path}           file bytes (datasets: /datasets/{repo}/...)

Anything else is a 404 with `X-Error-Code: EntryNotFound`. What it does NOT check: authentication
(any token is accepted), LFS/xet uploads, the server's schema validation, private-repo access. Files
live in memory; every commit is a full snapshot addressed by a 40-hex sha. The server shuts itself
down after `lifetime_s` seconds at the latest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import yaml

_API = re.compile(r"^/api/(model|dataset|space)s/([^/]+/[^/]+)/(preupload|commit|branch)/(.+)$")
_FRONT_MATTER = re.compile(r"^\s*---[\r\n]+(.*?)[\r\n]+---[\r\n]", re.DOTALL)
_RESOLVE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


class HubStub:
    """`with HubStub() as hub: ...` — `hub.endpoint`, `hub.files(repo_id, revision)`, `hub.requests`."""

    def __init__(self, lifetime_s: float = 300.0):
        self.lifetime_s = lifetime_s
        self.repos: dict[tuple[str, str], dict] = {}  # (type, repo_id) -> {"refs", "commits", "private"}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> HubStub:
        handler = type("Handler", (_Handler,), {"stub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._timer = threading.Timer(self.lifetime_s, self.close)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            self._timer.cancel()
            server.shutdown()
            server.server_close()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- state ---------------------------------------------------------------------------------------
    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        repo = self.repos[(repo_type, repo_id)]
        return dict(repo["commits"][repo["refs"].get(revision, revision)])

    def _commit(self, repo: dict, files: dict[str, bytes], message: str) -> str:
        digest = hashlib.sha1(message.encode() + str(len(repo["commits"])).encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + hashlib.sha1(files[path]).digest())
        sha = digest.hexdigest()
        repo["commits"][sha] = files
        return sha


class _Handler(BaseHTTPRequestHandler):
    stub: HubStub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes | dict = b"", headers: dict | None = None, head: bool = False):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _not_found(self, code: str = "EntryNotFound", head: bool = False):
        self._send(404, {"error": code}, {"X-Error-Code": code}, head=head)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self):  # noqa: N802
        path = unquote(urlsplit(self.path).path)
        body = self._body()
        stub = self.stub
        with stub.lock:
            stub.requests.append(("POST", path))
            if path == "/api/repos/create":
                req = json.loads(body or b"{}")
                repo_id = "/".join(p for p in (req.get("organization"), req["name"]) if p)
                key = (req.get("type") or "model", repo_id)
                url = f"{stub.endpoint}/{repo_id}"
                if key in stub.repos:
                    return self._send(409, {"error": "You already created this repo", "url": url})
                repo = stub.repos[key] = {"refs": {}, "commits": {}, "private": req.get("visibility") == "private"}
                repo["refs"]["main"] = stub._commit(repo, {}, "initial commit")
                return self._send(200, {"url": url, "name": repo_id})
            if path == "/api/validate-yaml":  # the README's front matter must be a YAML mapping
                header = _FRONT_MATTER.match(json.loads(body).get("content") or "")
                try:
                    meta = yaml.safe_load(header[1]) if header else {}
                except yaml.YAMLError as err:
                    meta = f"invalid YAML: {err}"
                if not isinstance(meta, dict):
                    return self._send(400, {"errors": [{"message": f"metadata is not a mapping: {meta}"}]})
                return self._send(200, {"errors": [], "warnings": []})
            match = _API.match(path)
            if not match:
                return self._not_found()
            repo = stub.repos.get((match[1], match[2]))
            if not repo:
                return self._not_found("RepoNotFound")
            action, rev = match[3], match[4]
            if action == "branch":
                if rev in repo["refs"]:
                    return self._send(409, {"error": f"branch {rev} already exists"})
                start = json.loads(body or b"{}").get("startingPoint") or "main"
                repo["refs"][rev] = repo["refs"].get(start, start)
                return self._send(200, {})
            if rev not in repo["refs"]:
                return self._not_found("RevisionNotFound")
            if action == "preupload":
                files = json.loads(body)["files"]
                return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                  for f in files], "commitOid": repo["refs"][rev]})
            files = dict(repo["commits"][repo["refs"][rev]])
            message = ""
            for line in body.splitlines():
                item = json.loads(line)
                value = item["value"]
                if item["key"] == "header":
                    message = value.get("summary", "")
                elif item["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] == "deletedFile":
                    files.pop(value["path"], None)
                elif item["key"] == "deletedFolder":
                    files = {p: c for p, c in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
                else:
                    return self._send(400, {"error": f"stub: unsupported commit item {item['key']!r} (no LFS/xet)"})
            sha = repo["refs"][rev] = stub._commit(repo, files, message)
            prefix = stub.endpoint if match[1] == "model" else f"{stub.endpoint}/{match[1]}s"
            return self._send(200, {"commitUrl": f"{prefix}/{match[2]}/commit/{sha}", "commitOid": sha,
                                    "pullRequestUrl": None})

    def _resolve(self, head: bool):
        path = unquote(urlsplit(self.path).path)
        stub = self.stub
        with stub.lock:
            stub.requests.append(("HEAD" if head else "GET", path))
            match = _RESOLVE.match(path)
            if not match:
                return self._not_found("EntryNotFound", head)
            repo = stub.repos.get(((match[1] or "models")[:-1], match[2]))
            if not repo:
                return self._not_found("RepoNotFound", head)
            sha = repo["refs"].get(match[3], match[3])
            if sha not in repo["commits"]:
                return self._not_found("RevisionNotFound", head)
            content = repo["commits"][sha].get(match[4])
            if content is None:
                return self._not_found("EntryNotFound", head)
            etag = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
            self._send(200, content, {"X-Repo-Commit": sha, "ETag": f'"{etag}"',
                                      "Content-Type": "application/octet-stream"}, head=head)

    def do_GET(self):  # noqa: N802
        self._resolve(head=False)

    def do_HEAD(self):  # noqa: N802
        self._resolve(head=True)
