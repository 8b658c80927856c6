"""hubserver: a small, stdlib-only Hugging Face Hub look-alike on loopback, for tests of the real clients.

Adopted into the project's tests from the team's shared tools (``docs/data-format.md`` §5); the project
owns this copy (a fresh clone has no shared folder), so change it here when a client upgrade needs a new route.

Scope: exactly the HTTP surface that huggingface_hub 2.4 / datasets 5.2 use for
create_repo, upload_folder/create_commit (regular + LFS "basic" transfer),
Dataset.push_to_hub, load_dataset("org/name"), HfFileSystem, hf_hub_download,
snapshot_download and PyTorchModelHubMixin push/pull. Repos live in memory,
file contents as sha256-addressed blobs under ``root``.

NOT implemented: Xet storage. Clients MUST run with HF_HUB_DISABLE_XET=1
(set before huggingface_hub is imported), otherwise huggingface_hub 2.x
uploads every LFS file through hf_xet and fails.

Regression guard: every request to a route this server does not know is recorded in ``HubServer.unknown``
(method and path); tests assert it stays empty, so a client upgrade that starts calling a new endpoint fails
loudly instead of silently degrading.

Usage (test fixture):
    srv = HubServer(root=tmp_path)     # binds 127.0.0.1:<free port>
    srv.start()
    os.environ["HF_ENDPOINT"] = srv.url   # before huggingface_hub/datasets are imported, or in the
                                          # environment of a client subprocess started afterwards
    ...
    assert not srv.unknown
    srv.stop()
or standalone:  python hubserver.py --port 8765 --root /tmp/hubserver
"""
from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import json
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
LFS_EXT = re.compile(
    r"\.(safetensors|bin|pt|pth|ckpt|h5|npy|npz|parquet|arrow|zarr|zip|tar|gz|zst|png|jpg|jpeg|msgpack|onnx|pkl|pickle|joblib)$"
)
LFS_THRESHOLD = 10 * 1024 * 1024


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def is_sha256(oid) -> bool:
    """Whether ``oid`` is a sha256 in hex: the only names the blob store has."""
    return isinstance(oid, str) and re.fullmatch(r"[0-9a-f]{64}", oid) is not None


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n".encode()


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], dict] = {}
        self.lock = threading.RLock()

    # blobs are content addressed by sha256
    def put_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        p = self.root / "blobs" / sha
        if not p.exists():
            tmp = p.with_suffix(".tmp" + uuid.uuid4().hex)
            tmp.write_bytes(data)
            tmp.replace(p)
        return sha

    def blob_path(self, sha: str) -> Path:
        """The blob file of a sha256; ``ValueError`` for anything else (an oid such as ``../../etc/hostname``
        sent by a client would otherwise name a file outside the blob store)."""
        if not is_sha256(sha):
            raise ValueError(f"oid = {str(sha)[:80]!r}: not a sha256 (64 lowercase hex digits)")
        return self.root / "blobs" / sha

    def has_blob(self, sha: str) -> bool:
        return is_sha256(sha) and self.blob_path(sha).exists()

    def create(self, rtype: str, repo_id: str) -> bool:
        with self.lock:
            if (rtype, repo_id) in self.repos:
                return False
            files = {}
            ga = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"
            files[".gitattributes"] = self._entry(ga, lfs=False)
            oid = hashlib.sha1(f"{rtype}{repo_id}{uuid.uuid4()}".encode()).hexdigest()
            commit = {"id": oid, "parent": None, "title": "initial commit", "message": "", "date": _now(), "files": files}
            self.repos[(rtype, repo_id)] = {
                "created": _now(),
                "commits": {oid: commit},
                "branches": {"main": oid},
                "tags": {},
            }
            return True

    def _entry(self, data: bytes, lfs: bool) -> dict:
        sha = self.put_blob(data)
        size = len(data)
        return {"sha256": sha, "size": size, "lfs": lfs, "oid": _git_oid(_lfs_pointer(sha, size) if lfs else data)}

    def resolve(self, rtype: str, repo_id: str, rev: str):
        repo = self.repos.get((rtype, repo_id))
        if repo is None:
            return None, None
        rev = unquote(rev)
        for pfx in ("refs/heads/", "refs/tags/"):
            if rev.startswith(pfx):
                rev = rev[len(pfx):]
        oid = repo["branches"].get(rev) or repo["tags"].get(rev)
        if oid is None and rev in repo["commits"]:
            oid = rev
        if oid is None:
            matches = [c for c in repo["commits"] if len(rev) >= 7 and c.startswith(rev)]
            oid = matches[0] if len(matches) == 1 else None
        return repo, (repo["commits"][oid] if oid else None)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubserver/0.1"
    store: Store  # set on subclass
    unknown: list  # set on subclass: "METHOD path" of every request to an unknown route
    verbose = False

    # ------------------------------------------------------------------ utils
    def log_message(self, fmt, *args):  # quiet unless asked
        if self.verbose:
            sys.stderr.write("[hubserver] %s %s\n" % (self.command, fmt % args))

    @property
    def base(self) -> str:
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return f"http://{host}"

    def _body(self) -> bytes:
        return self._raw_body

    def _read_body(self) -> bytes:
        # always drain the request body, or keep-alive connections get out of sync
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().strip().split(b";")[0], 16)
                if n == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, code: int, body: bytes = b"", ctype="application/json", headers=None, head=False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _json(self, obj, code=200, headers=None):
        self._send(code, json.dumps(obj).encode(), headers=headers)

    def _err(self, code: int, err_code: str, msg: str, head=False):
        if err_code == "NotFound":  # a route (not a file or repo) this server does not implement
            self.unknown.append(f"{self.command} {self.path}")
        self._send(code, json.dumps({"error": msg}).encode(),
                   headers={"X-Error-Code": err_code, "X-Error-Message": msg}, head=head)

    # ------------------------------------------------------------- dispatch
    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str):
        u = urlsplit(self.path)
        self.query = parse_qs(u.query)
        parts = [p for p in u.path.split("/") if p != ""]
        self._raw_body = self._read_body()
        try:
            with self.store.lock:
                self._route(method, parts)
        except Exception as e:  # pragma: no cover - debugging aid
            import traceback

            traceback.print_exc()
            self._err(500, "InternalError", repr(e))

    def _route(self, m: str, p: list[str]):
        st = self.store
        if p[:1] == ["api"]:
            if p[1:] == ["whoami-v2"]:
                return self._json({"type": "user", "name": "tester", "fullname": "Test User", "orgs": [{"name": "org", "type": "org"}],
                                   "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})
            if p[1:] == ["agent-harnesses"]:  # huggingface_hub 2.4 user-agent detection: an empty registry
                return self._json({"standardEnvVars": [], "harnesses": {}})
            if p[1:] == ["validate-yaml"]:
                return self._json({"errors": [], "warnings": []})
            if p[1:] == ["repos", "create"] and m == "POST":
                b = json.loads(self._body() or b"{}")
                rtype = b.get("type") or "model"
                repo_id = f"{b['organization']}/{b['name']}" if b.get("organization") else b["name"]
                if "/" not in repo_id:
                    repo_id = f"tester/{repo_id}"
                url = f"{self.base}/{PREFIX[rtype]}{repo_id}"
                if not st.create(rtype, repo_id):
                    return self._json({"error": "You already created this repo", "url": url}, code=409)
                return self._json({"url": url, "name": repo_id, "id": repo_id})
            if p[1:] == ["repos", "delete"] and m == "DELETE":
                b = json.loads(self._body() or b"{}")
                rtype = b.get("type") or "model"
                repo_id = f"{b['organization']}/{b['name']}" if b.get("organization") else b["name"]
                if st.repos.pop((rtype, repo_id), None) is None:
                    return self._err(404, "RepoNotFound", "Repository not found")
                return self._json({})
            if len(p) >= 4 and p[1] in TYPES:
                return self._api_repo(m, TYPES[p[1]], f"{p[2]}/{p[3]}", p[4:])
            return self._err(404, "NotFound", "unknown api route " + "/".join(p))
        if p[:1] == ["_lfs"] and m == "PUT":
            data = self._body()
            sha = st.put_blob(data)
            if sha != p[1]:
                return self._err(400, "BadOid", "sha256 mismatch")
            return self._send(200, b"")
        if p[:1] == ["_lfs"] and m == "POST":  # verify
            return self._json({})
        # git-lfs batch: /{prefix}{ns}/{name}.git/info/lfs/objects/batch
        if len(p) >= 6 and p[-4:] == ["info", "lfs", "objects", "batch"] or (len(p) >= 5 and p[-3:] == ["lfs", "objects", "batch"]):
            return self._lfs_batch()
        # resolve: /{prefix}{ns}/{name}/resolve/{rev}/{path}
        rtype = "model"
        q = p
        if q[:1] in (["datasets"], ["spaces"], ["models"]):
            rtype, q = TYPES[q[0]], q[1:]
        if len(q) >= 5 and q[2] == "resolve":
            return self._resolve(m, rtype, f"{q[0]}/{q[1]}", q[3], "/".join(unquote(x) for x in q[4:]))
        return self._err(404, "NotFound", "unknown route " + "/".join(p))

    # ------------------------------------------------------------ repo API
    def _entry_json(self, path: str, e: dict, commit: dict | None, expand: bool) -> dict:
        d = {"type": "file", "oid": e["oid"], "size": e["size"], "path": path}
        if e["lfs"]:
            d["lfs"] = {"oid": e["sha256"], "size": e["size"], "pointerSize": len(_lfs_pointer(e["sha256"], e["size"]))}
        if expand and commit:
            d["lastCommit"] = {"id": commit["id"], "title": commit["title"], "date": commit["date"]}
        return d

    def _dir_json(self, path: str, commit: dict | None, expand: bool) -> dict:
        d = {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}
        if expand and commit:
            d["lastCommit"] = {"id": commit["id"], "title": commit["title"], "date": commit["date"]}
        return d

    def _info(self, rtype, repo_id, repo, commit):
        files = commit["files"]
        blobs = self.query.get("blobs", ["false"])[0].lower() == "true"
        sib = []
        for path, e in sorted(files.items()):
            s = {"rfilename": path}
            if blobs:
                s.update(size=e["size"], blobId=e["oid"])
                if e["lfs"]:
                    s["lfs"] = {"size": e["size"], "sha256": e["sha256"], "pointerSize": 134}
            sib.append(s)
        card = None
        if "README.md" in files:
            txt = self.store.blob_path(files["README.md"]["sha256"]).read_text("utf-8", "replace")
            mm = re.match(r"^---\s*\n(.*?)\n---\s*\n", txt, re.S)
            if mm:
                try:
                    import yaml  # optional (pyyaml comes with huggingface_hub)

                    card = yaml.safe_load(mm.group(1))
                except Exception:
                    card = None
        info = {"id": repo_id, "_id": repo_id, "author": repo_id.split("/")[0], "sha": commit["id"], "lastModified": commit["date"],
                "createdAt": repo["created"], "private": False, "gated": False, "disabled": False, "downloads": 0,
                "likes": 0, "tags": [], "siblings": sib, "cardData": card, "usedStorage": sum(e["size"] for e in files.values())}
        if rtype == "model":
            info["modelId"] = repo_id
        return info

    def _api_repo(self, m, rtype, repo_id, rest):
        st = self.store
        repo = st.repos.get((rtype, repo_id))
        if repo is None:
            return self._err(404, "RepoNotFound", f"Repository {repo_id} not found", head=m == "HEAD")
        action = rest[0] if rest else ""
        if action in ("", "revision") and m in ("GET", "HEAD"):
            rev = rest[1] if len(rest) > 1 else "main"
            _, commit = st.resolve(rtype, repo_id, "/".join(rest[1:]) if len(rest) > 1 else rev)
            if commit is None:
                return self._err(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return self._json(self._info(rtype, repo_id, repo, commit))
        if action == "refs":
            return self._json({"branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": o} for b, o in repo["branches"].items()],
                               "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": o} for t, o in repo["tags"].items()],
                               "converts": []})
        if action == "commits":
            _, commit = st.resolve(rtype, repo_id, unquote(rest[1]) if len(rest) > 1 else "main")
            out = []
            while commit is not None:
                out.append({"id": commit["id"], "title": commit["title"], "message": commit["message"],
                            "authors": [{"user": "tester"}], "date": commit["date"]})
                commit = repo["commits"].get(commit["parent"]) if commit["parent"] else None
            return self._json(out)
        if action in ("tree", "paths-info"):
            rev = unquote(rest[1]) if len(rest) > 1 else "main"
            _, commit = st.resolve(rtype, repo_id, rev)
            if commit is None:
                return self._err(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            files = commit["files"]
            dirs = set()
            for f in files:
                segs = f.split("/")
                for i in range(1, len(segs)):
                    dirs.add("/".join(segs[:i]))
            if action == "paths-info":
                body = self._body()
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    b = json.loads(body)
                    paths, expand = b.get("paths", []), bool(b.get("expand"))
                else:
                    f = parse_qs(body.decode())
                    paths, expand = f.get("paths", []), f.get("expand", ["False"])[0].lower() == "true"
                out = []
                for pth in paths:
                    pth = pth.strip("/")
                    if pth in files:
                        out.append(self._entry_json(pth, files[pth], commit, expand))
                    elif pth in dirs:
                        out.append(self._dir_json(pth, commit, expand))
                return self._json(out)
            sub = "/".join(unquote(x) for x in rest[2:]).strip("/")
            recursive = self.query.get("recursive", ["false"])[0].lower() == "true"
            expand = self.query.get("expand", ["false"])[0].lower() == "true"
            if sub and sub not in dirs:
                if sub in files:
                    return self._err(404, "EntryNotFound", f"{sub} is a file, not a directory")
                return self._err(404, "EntryNotFound", f"{sub} does not exist on {rev}")
            pre = sub + "/" if sub else ""
            out = []
            for d in sorted(dirs):
                if d.startswith(pre) and (recursive or "/" not in d[len(pre):]):
                    out.append(self._dir_json(d, commit, expand))
            for f, e in sorted(files.items()):
                if f.startswith(pre) and (recursive or "/" not in f[len(pre):]):
                    out.append(self._entry_json(f, e, commit, expand))
            return self._json(out)
        if action == "preupload" and m == "POST":
            b = json.loads(self._body() or b"{}")
            out = []
            for f in b.get("files", []):
                sample = base64.b64decode(f.get("sample", "") or "")
                binary = b"\0" in sample
                try:
                    sample.decode("utf-8")
                except UnicodeDecodeError:
                    binary = True
                lfs = f.get("size", 0) > LFS_THRESHOLD or binary or bool(LFS_EXT.search(f["path"]))
                out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False})
            return self._json({"files": out, "commitOid": repo["branches"].get("main")})
        if action == "commit" and m == "POST":
            return self._commit(rtype, repo_id, repo, unquote("/".join(rest[1:]) or "main"))
        if action == "branch" and m == "POST":
            b = json.loads(self._body() or b"{}")
            _, commit = st.resolve(rtype, repo_id, b.get("startingPoint") or "main")
            repo["branches"][unquote("/".join(rest[1:]))] = commit["id"]
            return self._json({})
        if action == "tag" and m == "POST":
            b = json.loads(self._body() or b"{}")
            _, commit = st.resolve(rtype, repo_id, unquote("/".join(rest[1:])) or "main")
            repo["tags"][b["tag"]] = commit["id"]
            return self._json({})
        if action in ("xet-read-token", "xet-write-token"):
            return self._err(501, "XetNotSupported", "hubserver has no Xet storage; set HF_HUB_DISABLE_XET=1")
        return self._err(404, "NotFound", f"unsupported repo action {action}")

    def _commit(self, rtype, repo_id, repo, rev):
        st = self.store
        lines = [json.loads(x) for x in self._body().splitlines() if x.strip()]
        header = next((x["value"] for x in lines if x["key"] == "header"), {})
        branch = rev if rev in repo["branches"] else None
        if branch is None:
            return self._err(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        parent = repo["commits"][repo["branches"][branch]]
        if header.get("parentCommit") and header["parentCommit"] != parent["id"]:
            return self._err(412, "ParentCommitMismatch", "A commit has happened since parentCommit")
        files = dict(parent["files"])
        for x in lines:
            k, v = x["key"], x.get("value", {})
            if k == "file":
                data = base64.b64decode(v["content"]) if v.get("encoding") == "base64" else v["content"].encode()
                files[v["path"]] = st._entry(data, lfs=False)
            elif k == "lfsFile":
                if not is_sha256(v.get("oid")):
                    return self._err(422, "InvalidOid", f"lfsFile {v.get('path')!r}: oid = {str(v.get('oid'))[:80]!r}: "
                                     "must be the sha256 of the uploaded object (64 lowercase hex digits)")
                if not st.has_blob(v["oid"]):
                    return self._err(422, "LfsObjectMissing", f"LFS object {v['oid']} was never uploaded")
                size = st.blob_path(v["oid"]).stat().st_size
                files[v["path"]] = {"sha256": v["oid"], "size": size, "lfs": True, "oid": _git_oid(_lfs_pointer(v["oid"], size))}
            elif k == "deletedFile":
                files.pop(v["path"], None)
            elif k == "deletedFolder":
                pre = v["path"].rstrip("/") + "/"
                for f in [f for f in files if f.startswith(pre)]:
                    files.pop(f)
        oid = hashlib.sha1(json.dumps([parent["id"], sorted((f, e["oid"]) for f, e in files.items()), uuid.uuid4().hex]).encode()).hexdigest()
        repo["commits"][oid] = {"id": oid, "parent": parent["id"], "title": header.get("summary", ""),
                                "message": header.get("description", ""), "date": _now(), "files": files}
        repo["branches"][branch] = oid
        return self._json({"commitUrl": f"{self.base}/{PREFIX[rtype]}{repo_id}/commit/{oid}", "commitOid": oid,
                           "pullRequestUrl": None, "success": True})

    def _lfs_batch(self):
        b = json.loads(self._body() or b"{}")
        objs = []
        for o in b.get("objects", []):
            d = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if b.get("operation") == "upload" and not self.store.has_blob(o["oid"]):
                d["actions"] = {"upload": {"href": f"{self.base}/_lfs/{o['oid']}", "header": {}},
                                "verify": {"href": f"{self.base}/_lfs/{o['oid']}/verify", "header": {}}}
            elif b.get("operation") == "download":
                d["actions"] = {"download": {"href": f"{self.base}/_lfs/{o['oid']}"}}
            objs.append(d)
        return self._send(200, json.dumps({"transfer": "basic", "objects": objs}).encode(), ctype="application/vnd.git-lfs+json")

    # ------------------------------------------------------------- resolve
    def _resolve(self, m, rtype, repo_id, rev, path):
        head = m == "HEAD"
        repo, commit = self.store.resolve(rtype, repo_id, rev)
        if repo is None:
            return self._err(404, "RepoNotFound", f"Repository {repo_id} not found", head=head)
        if commit is None:
            return self._err(404, "RevisionNotFound", f"Invalid rev id: {rev}", head=head)
        e = commit["files"].get(path)
        if e is None:
            return self._err(404, "EntryNotFound", f"{path} does not exist on {rev}", head=head)
        fp = self.store.blob_path(e["sha256"])
        size = e["size"]
        hdr = {"X-Repo-Commit": commit["id"], "Accept-Ranges": "bytes"}
        if e["lfs"]:
            hdr.update({"ETag": f'"{e["sha256"]}"', "X-Linked-Etag": f'"{e["sha256"]}"', "X-Linked-Size": str(size)})
        else:
            hdr["ETag"] = f'"{e["oid"]}"'
        start, end = 0, size - 1
        code = 200
        rng = self.headers.get("Range")
        if rng and size > 0:
            mm = re.match(r"bytes=(\d*)-(\d*)", rng)
            if mm:
                if mm.group(1) == "":
                    start = max(0, size - int(mm.group(2)))
                else:
                    start = int(mm.group(1))
                    if mm.group(2):
                        end = min(int(mm.group(2)), size - 1)
                if start >= size:
                    return self._send(416, b"", headers={"Content-Range": f"bytes */{size}"}, head=head)
                code = 206
                hdr["Content-Range"] = f"bytes {start}-{end}/{size}"
        n = max(0, end - start + 1)
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        for k, v in hdr.items():
            self.send_header(k, v)
        self.end_headers()
        if not head and n:
            with open(fp, "rb") as fh:
                fh.seek(start)
                left = n
                while left:
                    chunk = fh.read(min(1 << 20, left))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)


class HubServer:
    """Run the server in a background thread (for pytest fixtures)."""

    def __init__(self, root, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        self.store = Store(Path(root))
        self.unknown: list[str] = []
        handler = type("H", (Handler,), {"store": self.store, "unknown": self.unknown, "verbose": verbose})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.url = "http://%s:%d" % self.httpd.server_address[:2]
        self._t = None

    def start(self):
        self._t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._t.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--root", default="./hubserver-data")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    hub = HubServer(a.root, a.host, a.port, a.verbose)
    print(f"hubserver listening on {hub.url}", flush=True)
    try:
        hub.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
