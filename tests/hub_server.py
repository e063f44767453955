"""A loopback stand-in for the Hugging Face Hub, for tests that must exercise real HTTP without the network.

The client libraries (huggingface_hub 2.4, datasets 5.2) talk ``httpx2``, which mocking libraries do not intercept,
and they read ``HF_ENDPOINT`` / ``HF_HUB_DISABLE_XET`` at import time. So the tests start this server, then run the
client in a subprocess whose environment comes from :meth:`LoopbackHub.env`. Only the endpoints those clients call
to publish and load a repo are emulated (the shapes were read from the installed client sources):

- ``POST /api/repos/create``, ``POST /api/validate-yaml``, ``GET /api/whoami-v2``
- ``GET /api/{type}s/{id}[/revision/{rev}]`` (repo info), ``GET .../tree/{rev}[/{path}]``, ``POST .../paths-info/{rev}``
- ``POST .../preupload/{rev}`` and ``POST .../commit/{rev}`` (NDJSON: inline base64 files, LFS pointers, deletions)
- ``POST /{prefix}{id}.git/info/lfs/objects/batch`` and ``.../verify`` (git-LFS batch API, "basic" transfer)
- ``HEAD|GET /{prefix}{id}/resolve/{rev}/{path}``: regular files answered inline; LFS files answered with a 302 to a
  second listener on another port standing in for the CDN (X-Linked-Etag/X-Linked-Size, as the Hub does), so the
  client's "do not forward the token off the Hub" path runs too. The CDN also takes the LFS ``PUT`` uploads.

Nothing leaves the machine: :meth:`LoopbackHub.env` also points every proxy variable at this server (except for
127.0.0.1), so a request to any other host (e.g. the datasets-server lookups ``datasets`` makes) is answered here
with a 404 and recorded in :attr:`LoopbackHub.stray`; HTTPS tunnels are refused.

Usage, e.g. in a test module::

    @pytest.fixture
    def hub(tmp_path):
        with serve_hub(tmp_path) as hub:   # hub.endpoint == "http://127.0.0.1:PORT"
            yield hub

    subprocess.run([...], env=hub.env(tmp_path), check=True)
    assert hub.files("org/name", repo_type="model")["README.md"] == b"..."
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LOOPBACK_TOKEN = "hf_loopback_write_token"
USER = "miex-tester"
# The first commit of every new repo, as on the Hub; its patterns also decide which files go through LFS.
GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.parquet",
        "*.arrow",
        "*.safetensors",
        "*.bin",
        "*.pt",
        "*.pth",
        "*.ckpt",
        "*.onnx",
        "*.h5",
        "*.npy",
        "*.npz",
        "*.png",
        "*.jpg",
        "*.jpeg",
        "*.gif",
        "*.mp4",
        "*.zip",
        "*.gz",
        "*.tar",
    )
)
LFS_PATTERNS = tuple(line.split()[0] for line in GITATTRIBUTES.splitlines())
LFS_MIN_SIZE = 10 * 1024 * 1024
PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
PLURALS = {"models": "model", "datasets": "dataset", "spaces": "space"}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

_API_REPO = r"/api/(?P<plural>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
_GIT_REPO = r"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)\.git/info/lfs/objects"
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern + r"/?$"), handler)
    for method, pattern, handler in (
        ("POST", r"/api/repos/create", "create_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("GET", r"/api/whoami-v2", "whoami"),
        ("POST", _API_REPO + r"/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", _API_REPO + r"/commit/(?P<rev>[^/]+)", "commit"),
        ("GET", _API_REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?", "tree"),
        ("POST", _API_REPO + r"/paths-info/(?P<rev>[^/]+)", "paths_info"),
        ("GET", _API_REPO + r"(?:/revision/(?P<rev>[^/]+))?", "repo_info"),
        ("POST", _GIT_REPO + r"/batch", "lfs_batch"),
        ("POST", _GIT_REPO + r"/verify", "lfs_verify"),
        (
            "GET",
            r"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)",
            "resolve",
        ),
    )
)
_CDN_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"/lfs/(?P<oid>[0-9a-f]{64})$"), "cdn_get"),
    ("PUT", re.compile(r"/lfs/(?P<oid>[0-9a-f]{64})$"), "cdn_put"),
)


class HubError(Exception):
    """An HTTP error answer, with the X-Error-Code header the client uses to pick its exception class."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


@dataclass(frozen=True)
class Blob:
    """One stored file version: content address (sha256), git object id (of the content or of its LFS pointer)."""

    sha256: str
    size: int
    lfs: bool

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {self.size}\n".encode()

    def git_oid(self, content: bytes | None = None) -> str:
        body = self.pointer if self.lfs else content
        assert body is not None
        return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


@dataclass
class Commit:
    oid: str
    title: str
    date: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: list[Commit] = field(default_factory=list)

    @property
    def head(self) -> Commit:
        return self.commits[-1]


@dataclass
class Request:
    method: str
    path: str
    status: int
    authorization: bool


class LoopbackHub:
    """State shared by the Hub listener and the CDN listener: repos, commits and content-addressed blobs on disk."""

    def __init__(self, root: Path, tokens: tuple[str, ...] | None = (LOOPBACK_TOKEN,)) -> None:
        self.blobs = root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        # None accepts any token (or none) for writes; otherwise writes need one of these, and unknown ones get 401.
        self.tokens = None if tokens is None else frozenset(tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[Request] = []
        self.stray: list[str] = []  # requests meant for any other host (answered 404 here, never forwarded)
        self.uploads: list[str] = []  # sha256 of every LFS object PUT to the CDN
        self.faults: dict[str, list[int]] = {}  # route name -> statuses to answer instead, first one first
        self.lock = threading.RLock()
        self.endpoint = ""
        self.cdn = ""

    # ----------------------------------------------------------------------------------------- test-facing helpers
    @property
    def token(self) -> str | None:
        return None if self.tokens is None else min(self.tokens)

    def env(self, home: Path, *, token: str | bool | None = True, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a client subprocess: this endpoint, no Xet, fresh caches under ``home``, no way out.

        ``token=True`` sets HF_TOKEN to a token this hub accepts, a string sets that one, None/False sets none.
        ``base`` replaces ``os.environ`` as the starting point; HF_* and proxy variables are dropped from it.
        """
        env = {
            key: value
            for key, value in (os.environ if base is None else base).items()
            if not key.upper().startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_OFFLINE"))
            and key.lower() not in PROXY_VARIABLES
        }
        env.update(
            HF_ENDPOINT=self.endpoint,
            HF_HUB_DISABLE_XET="1",
            HF_HOME=str(home / "hf_home"),
            HF_DATASETS_CACHE=str(home / "hf_datasets_cache"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_DATASETS_DISABLE_PROGRESS_BARS="1",
            HF_UPDATE_DOWNLOAD_COUNTS="0",  # else datasets pings s3.amazonaws.com on every load
        )
        for name in ("http_proxy", "https_proxy", "all_proxy"):
            env[name] = env[name.upper()] = self.endpoint
        env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1"
        token = self.token if token is True else token
        if token:
            env["HF_TOKEN"] = token
        return env

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        with self.lock:
            return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, repo_type: str = "dataset", revision: str = "main") -> dict[str, bytes]:
        """Every file of a repo at a revision, with its stored bytes."""
        with self.lock:
            commit = self.resolve_revision(self.repo(repo_id, repo_type), revision)
            return {path: self.read(blob) for path, blob in sorted(commit.files.items())}

    def create(self, repo_id: str, repo_type: str = "dataset", *, private: bool = False) -> Repo:
        """Create a repo with its initial ``.gitattributes`` commit, as the Hub does."""
        with self.lock:
            repo = Repo(repo_type, repo_id, private)
            self.repos[(repo_type, repo_id)] = repo
            blob = self.store(GITATTRIBUTES.encode(), lfs=False)
            self.add_commit(repo, "initial commit", {".gitattributes": blob})
            return repo

    def fail(self, route: str, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``route`` (e.g. "commit", "lfs_batch") with ``status``."""
        with self.lock:
            self.faults.setdefault(route, []).extend([status] * times)

    # --------------------------------------------------------------------------------------------------- storage
    def store(self, content: bytes, *, lfs: bool) -> Blob:
        digest = hashlib.sha256(content).hexdigest()
        target = self.blobs / digest
        if not target.exists():
            temporary = target.with_name(f"{digest}.{threading.get_ident()}.part")
            temporary.write_bytes(content)
            temporary.replace(target)
        return Blob(digest, len(content), lfs)

    def read(self, blob: Blob) -> bytes:
        return (self.blobs / blob.sha256).read_bytes()

    def has_object(self, sha256: str, size: int) -> bool:
        path = self.blobs / sha256
        return path.is_file() and path.stat().st_size == size

    def git_oid(self, blob: Blob) -> str:
        return blob.git_oid(None if blob.lfs else self.read(blob))

    def add_commit(self, repo: Repo, title: str, files: dict[str, Blob]) -> Commit:
        with self.lock:
            parent = repo.commits[-1].oid if repo.commits else ""
            listing = json.dumps(sorted((path, blob.sha256) for path, blob in files.items()))
            oid = hashlib.sha1(f"{parent}\n{title}\n{len(repo.commits)}\n{listing}".encode()).hexdigest()
            date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            commit = Commit(oid, title, date, dict(files))
            repo.commits.append(commit)
            return commit

    @staticmethod
    def resolve_revision(repo: Repo, revision: str) -> Commit:
        if revision in ("main", "refs/heads/main"):
            return repo.head
        for commit in reversed(repo.commits):
            if len(revision) >= 7 and commit.oid.startswith(revision.lower()):
                return commit
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def last_commit(self, repo: Repo, commit: Commit, path: str) -> Commit:
        """The newest commit (up to ``commit``) that changed ``path`` or anything under it."""
        index = repo.commits.index(commit)

        inside = path.rstrip("/") + "/"

        def view(c: Commit) -> list[tuple[str, str]]:
            return sorted((p, b.sha256) for p, b in c.files.items() if p == path or p.startswith(inside))

        while index > 0 and view(repo.commits[index - 1]) == view(repo.commits[index]):
            index -= 1
        return repo.commits[index]

    def repo_url(self, repo: Repo) -> str:
        return f"{self.endpoint}/{PREFIXES[repo.repo_type]}{repo.repo_id}"


class _Listener(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: LoopbackHub, role: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub, self.role = hub, role


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Listener
    head_only = False

    # --------------------------------------------------------------------------------------------- plumbing
    def log_message(self, format: str, *args: Any) -> None:  # the request log lives in LoopbackHub.requests
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_CONNECT(self) -> None:
        """An HTTPS tunnel through the guard proxy: refused, so nothing reaches the network."""
        hub = self.server.hub
        with hub.lock:
            hub.stray.append(f"CONNECT {self.path}")
        self.close_connection = True
        self._send(403, b"loopback hub: no tunnels to the network\n", content_type="text/plain")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers, up to the blank line
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        hub = self.server.hub
        self.body = self._read_body()
        self.head_only = method == "HEAD"
        status = 500
        try:
            if self.path.startswith(("http://", "https://")):  # absolute form: we are being used as a proxy
                with hub.lock:
                    hub.stray.append(f"{method} {self.path}")
                raise HubError(404, "loopback hub: requests to other hosts are not forwarded")
            url = urlsplit(self.path)
            self.query = parse_qs(url.query, keep_blank_values=True)
            routes = _ROUTES if self.server.role == "hub" else _CDN_ROUTES
            for route_method, pattern, name in routes:
                match = pattern.match(url.path)
                if match and route_method == ("GET" if method == "HEAD" else method):
                    params = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                    with hub.lock:
                        fault = hub.faults.get(name, []) and hub.faults[name].pop(0)
                    if fault:
                        raise HubError(fault, f"loopback hub: injected failure of {name}")
                    status = getattr(self, f"_{name}")(**params)
                    break
            else:
                raise HubError(404, f"loopback hub: no route for {method} {url.path}")
        except HubError as error:
            status = error.status
            headers = {"X-Error-Message": error.message, **error.headers}
            if error.code:
                headers["X-Error-Code"] = error.code
            self._send_json(error.status, {"error": error.message}, headers)
        except Exception as error:  # a bug in the emulation: answer 500 so the client fails loudly, not hangs
            status = 500
            self._send_json(500, {"error": f"loopback hub: {type(error).__name__}: {error}"})
        with hub.lock:
            hub.requests.append(Request(method, self.path, status, "Authorization" in self.headers))

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        length: int | None = None,
    ) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not self.head_only:
            self.wfile.write(body)
        return status

    def _send_json(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, content_type: str = "application/json"
    ) -> int:
        return self._send(status, json.dumps(payload).encode(), headers, content_type)

    def _json_body(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as error:
            raise HubError(400, f"invalid JSON body: {error}") from error

    # --------------------------------------------------------------------------------------------------- auth
    def _token(self) -> str | None:
        header = self.headers.get("Authorization")
        return header.split(" ", 1)[-1].strip() if header else None

    def _check_token(self, *, write: bool) -> None:
        tokens = self.server.hub.tokens
        token = self._token()
        if tokens is None:
            return
        if token is not None and token not in tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        if token is None and write:
            raise HubError(401, "You must be authenticated to write to the Hub (no token given)")

    def _repo(self, plural_or_prefix: str | None, ns: str, name: str, *, write: bool = False) -> Repo:
        self._check_token(write=write)
        repo_type = PLURALS[plural_or_prefix or "models"]
        repo = self.server.hub.repos.get((repo_type, f"{ns}/{name}"))
        if repo is None or (repo.private and self._token() is None):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    # ------------------------------------------------------------------------------------------ repo endpoints
    def _create_repo(self) -> int:
        self._check_token(write=True)
        payload = self._json_body()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        hub = self.server.hub
        with hub.lock:
            existing = hub.repos.get((repo_type, repo_id))
            if existing is not None:
                return self._send_json(
                    409, {"error": f"You already created this {repo_type} repo", "url": hub.repo_url(existing)}
                )
            repo = hub.create(repo_id, repo_type, private=payload.get("visibility") == "private")
        return self._send_json(200, {"url": hub.repo_url(repo), "name": repo_id, "id": repo_id})

    def _validate_yaml(self) -> int:
        content = self._json_body().get("content", "")
        errors = []
        if content.startswith("---") and "\n---" not in content[3:]:
            errors.append({"message": "YAML front matter is not closed by a '---' line"})
        return self._send_json(400 if errors else 200, {"errors": errors, "warnings": []})

    def _whoami(self) -> int:
        self._check_token(write=True)
        return self._send_json(
            200,
            {
                "type": "user",
                "name": USER,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"role": "write"}},
            },
        )

    def _repo_info(self, plural: str, ns: str, name: str, rev: str = "main") -> int:
        hub = self.server.hub
        with hub.lock:
            repo = self._repo(plural, ns, name)
            commit = hub.resolve_revision(repo, rev)
            siblings = [{"rfilename": path} for path in sorted(commit.files)]
            if self.query.get("blobs", ["false"])[0].lower() == "true":
                siblings = [self._sibling(path, blob) for path, blob in sorted(commit.files.items())]
            return self._send_json(
                200,
                {
                    "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                    "id": repo.repo_id,
                    "author": repo.repo_id.split("/")[0],
                    "sha": commit.oid,
                    "lastModified": commit.date,
                    "createdAt": repo.commits[0].date,
                    "private": repo.private,
                    "gated": False,
                    "disabled": False,
                    "downloads": 0,
                    "likes": 0,
                    "tags": [],
                    "siblings": siblings,
                },
            )

    def _sibling(self, path: str, blob: Blob) -> dict[str, Any]:
        sibling: dict[str, Any] = {"rfilename": path, "size": blob.size, "blobId": self.server.hub.git_oid(blob)}
        if blob.lfs:
            sibling["lfs"] = {"sha256": blob.sha256, "size": blob.size, "pointerSize": len(blob.pointer)}
        return sibling

    def _entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict[str, Any]:
        hub = self.server.hub
        blob = commit.files.get(path)
        if blob is not None:
            entry: dict[str, Any] = {"type": "file", "oid": hub.git_oid(blob), "size": blob.size, "path": path}
            if blob.lfs:
                entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": len(blob.pointer)}
        else:
            inside = sorted((p, b.sha256) for p, b in commit.files.items() if p.startswith(path + "/"))
            entry = {"type": "directory", "oid": hashlib.sha1(json.dumps(inside).encode()).hexdigest(), "path": path}
        if expand:
            last = hub.last_commit(repo, commit, path)
            entry["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
        return entry

    @staticmethod
    def _folders(files: dict[str, Blob]) -> set[str]:
        return {"/".join(path.split("/")[:depth]) for path in files for depth in range(1, path.count("/") + 1)}

    def _tree(self, plural: str, ns: str, name: str, rev: str, path: str = "") -> int:
        hub = self.server.hub
        recursive = self.query.get("recursive", ["false"])[0].lower() == "true"
        expand = self.query.get("expand", ["false"])[0].lower() == "true"
        path = path.strip("/")
        with hub.lock:
            repo = self._repo(plural, ns, name)
            commit = hub.resolve_revision(repo, rev)
            everything = sorted(set(commit.files) | self._folders(commit.files))
            if path and path not in self._folders(commit.files):
                raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound")
            prefix = f"{path}/" if path else ""
            below = [p for p in everything if p.startswith(prefix)]
            if not recursive:
                below = [p for p in below if "/" not in p[len(prefix) :]]
            return self._send_json(200, [self._entry(repo, commit, p, expand) for p in below])

    def _paths_info(self, plural: str, ns: str, name: str, rev: str) -> int:
        hub = self.server.hub
        form = parse_qs(self.body.decode(), keep_blank_values=True)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            form = {key: value if isinstance(value, list) else [value] for key, value in self._json_body().items()}
        expand = str(form.get("expand", ["false"])[0]).lower() == "true"
        with hub.lock:
            repo = self._repo(plural, ns, name)
            commit = hub.resolve_revision(repo, rev)
            folders = self._folders(commit.files)
            wanted = [p.strip("/") for p in form.get("paths", [])]
            found = [p for p in wanted if p in commit.files or p in folders]
            return self._send_json(200, [self._entry(repo, commit, p, expand) for p in found])

    # -------------------------------------------------------------------------------------------------- upload
    def _preupload(self, plural: str, ns: str, name: str, rev: str) -> int:
        hub = self.server.hub
        with hub.lock:
            repo = self._repo(plural, ns, name, write=True)
            commit = hub.resolve_revision(repo, rev)
            answers = []
            for item in self._json_body().get("files", []):
                path, size = item["path"], int(item["size"])
                sample = base64.b64decode(item.get("sample", ""))
                lfs = (
                    size >= LFS_MIN_SIZE
                    or b"\0" in sample
                    or any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in LFS_PATTERNS)
                )
                existing = commit.files.get(path)
                oid = None
                if existing is not None:
                    oid = existing.sha256 if existing.lfs else hub.git_oid(existing)
                answers.append(
                    {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
                )
        return self._send_json(200, {"files": answers, "commitOid": commit.oid})

    def _commit(self, plural: str, ns: str, name: str, rev: str) -> int:
        hub = self.server.hub
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first NDJSON line of a commit must be its header")
        header = lines[0]["value"]
        with hub.lock:
            repo = self._repo(plural, ns, name, write=True)
            if rev not in ("main", "refs/heads/main"):
                raise HubError(400, f"loopback hub: commits only go to main, not {rev}")
            if header.get("parentCommit") and not repo.head.oid.startswith(header["parentCommit"]):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(repo.head.files)
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                path = value["path"].strip("/")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HubError(400, f"unsupported encoding {value.get('encoding')!r} for {path}")
                    files[path] = hub.store(base64.b64decode(value["content"]), lfs=False)
                elif key == "lfsFile":
                    size = (hub.blobs / value["oid"]).stat().st_size if (hub.blobs / value["oid"]).is_file() else -1
                    if size < 0 or ("size" in value and size != int(value["size"])):
                        raise HubError(422, f"LFS object {value['oid']} for {path} was never uploaded")
                    files[path] = Blob(value["oid"], size, True)
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                elif key == "deletedFolder":
                    files = {p: b for p, b in files.items() if not p.startswith(path + "/")}
                else:
                    raise HubError(400, f"loopback hub: unsupported commit operation {key!r}")
            commit = hub.add_commit(repo, header.get("summary") or "update", files)
            return self._send_json(
                200,
                {
                    "success": True,
                    "commitOid": commit.oid,
                    "pullRequestUrl": None,
                    "commitUrl": f"{hub.repo_url(repo)}/commit/{commit.oid}",
                },
            )

    def _lfs_batch(self, ns: str, name: str, prefix: str | None = None) -> int:
        hub = self.server.hub
        self._repo(prefix, ns, name, write=True)
        payload = self._json_body()
        if payload.get("operation") != "upload":
            raise HubError(400, "loopback hub: only LFS uploads are emulated")
        verify = f"{hub.endpoint}/{(prefix + '/') if prefix else ''}{ns}/{name}.git/info/lfs/objects/verify"
        objects = []
        for item in payload.get("objects", []):
            oid, size = item["oid"], int(item["size"])
            answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not hub.has_object(oid, size):  # already stored objects get no actions: the client skips them
                answer["actions"] = {
                    "upload": {"href": f"{hub.cdn}/lfs/{oid}", "expires_in": 3600},
                    "verify": {"href": verify, "header": {}},
                }
            objects.append(answer)
        return self._send_json(
            200,
            {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
            content_type="application/vnd.git-lfs+json",
        )

    def _lfs_verify(self, ns: str, name: str, prefix: str | None = None) -> int:
        self._repo(prefix, ns, name, write=True)
        payload = self._json_body()
        if not self.server.hub.has_object(payload["oid"], int(payload["size"])):
            raise HubError(404, f"LFS object {payload['oid']} not found")
        return self._send_json(200, {"success": True})

    # ------------------------------------------------------------------------------------------------ download
    def _resolve(self, ns: str, name: str, rev: str, path: str, prefix: str | None = None) -> int:
        hub = self.server.hub
        with hub.lock:
            repo = self._repo(prefix, ns, name)
            commit = hub.resolve_revision(repo, rev)
            headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
            blob = commit.files.get(path)
            if blob is None:
                raise HubError(404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": commit.oid})
            etag = f'"{hub.git_oid(blob)}"'
            if blob.lfs:  # large files live on the CDN: redirect there, with the real file's etag and size
                headers.update(
                    {
                        "ETag": etag,
                        "Location": f"{hub.cdn}/lfs/{blob.sha256}",
                        "X-Linked-Etag": f'"{blob.sha256}"',
                        "X-Linked-Size": str(blob.size),
                    }
                )
                return self._send(302, b"", headers, content_type="text/plain")
            return self._send_content(hub.read(blob), {**headers, "ETag": etag})

    def _send_content(self, content: bytes, headers: dict[str, str]) -> int:
        """Answer with ``content``, honouring a single ``Range: bytes=`` request (206/416) as the Hub does."""
        ranged = self.headers.get("Range")
        if not ranged:
            return self._send(200, content, headers, content_type="application/octet-stream")
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", ranged.strip())
        if not match or match.groups() == ("", ""):
            raise HubError(400, f"unsupported Range header {ranged!r}")
        first, last = match.groups()
        total = len(content)
        start = total - int(last) if not first else int(first)
        end = total - 1 if not first or not last else min(int(last), total - 1)
        if start >= total or start > end:
            return self._send(416, b"", {**headers, "Content-Range": f"bytes */{total}"})
        start = max(start, 0)
        part = content[start : end + 1]
        headers = {**headers, "Content-Range": f"bytes {start}-{end}/{total}"}
        return self._send(206, part, headers, content_type="application/octet-stream")

    # ----------------------------------------------------------------------------------------------------- CDN
    def _cdn_get(self, oid: str) -> int:
        hub = self.server.hub
        path = hub.blobs / oid
        if not path.is_file():
            raise HubError(404, "NoSuchKey")
        return self._send_content(path.read_bytes(), {"ETag": f'"{oid}"', "Accept-Ranges": "bytes"})

    def _cdn_put(self, oid: str) -> int:
        hub = self.server.hub
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its sha256 oid")
        hub.store(self.body, lfs=True)
        with hub.lock:
            hub.uploads.append(oid)
        return self._send(200, b"", {"ETag": f'"{hashlib.md5(self.body).hexdigest()}"'})


@contextmanager
def serve_hub(tmp_path: Path, *, tokens: tuple[str, ...] | None = (LOOPBACK_TOKEN,)) -> Iterator[LoopbackHub]:
    """Run the loopback Hub (and its CDN) on 127.0.0.1 for the duration of the block; blobs go under ``tmp_path``.

    Yields the :class:`LoopbackHub`: ``hub.endpoint`` is the URL to use as ``HF_ENDPOINT``; ``hub.env(dir)`` builds a
    client subprocess environment; ``hub.files(repo_id, repo_type)`` returns what was pushed. ``tokens=None`` accepts
    any token (or none); by default writes need ``LOOPBACK_TOKEN`` and any other token is answered 401.
    """
    hub = LoopbackHub(Path(tmp_path) / "loopback_hub", tokens)
    listeners = [_Listener(hub, "hub"), _Listener(hub, "cdn")]
    hub.endpoint, hub.cdn = (f"http://127.0.0.1:{listener.server_address[1]}" for listener in listeners)
    threads = [
        threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for listener in listeners
    ]
    for thread in threads:
        thread.start()
    try:
        yield hub
    finally:
        for listener in listeners:
            listener.shutdown()
            listener.server_close()
        for thread in threads:
            thread.join(timeout=5)
