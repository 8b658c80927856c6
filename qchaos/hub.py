"""The local hub folder, repo ids, pushing to a Hub, and verified loading of published datasets.

* **Local hub**: ``$QCHAOS_HUB`` (default: the per-user cache ``$XDG_CACHE_HOME/qchaos/hub``, i.e.
  ``~/.cache/qchaos/hub``, the convention of huggingface_hub; :func:`hub_root`) holds ``datasets/<org>/<name>/`` and ``models/<org>/<name>/``,
  each laid out exactly like the Hub repo of the same id, so a folder can be loaded with ``load_dataset(folder)``
  (also with ``HF_HUB_OFFLINE=1``) or pushed as it is (:func:`push_folder`).
* **Integrity**: a published dataset repo carries ``data/manifest.json`` with the sha256, size and row count of
  every parquet shard. :func:`verify_dataset` checks a folder against it (truncated, bit-flipped, missing or stray
  shards raise :class:`DatasetIntegrityError` naming the file); :func:`load` verifies before it hands the folder
  to ``datasets.load_dataset``, for a local folder and for a Hub repo (downloaded with ``snapshot_download``).
* **Hub**: ``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_TOKEN`` (and ``HF_HUB_DISABLE_XET``) when it is
  first imported; set them before anything imports it. This module imports it lazily.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path

from .errors import EnvironmentFault, IntegrityError, NotFoundError, ParameterError, QchaosError

DEFAULT_ORG = "qchaos"
MANIFEST = "data/manifest.json"
MANIFEST_FORMAT = "qchaos-dataset-manifest/1"
REPO_TYPES = ("dataset", "model")

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")  # used with fullmatch: "$" would allow a final "\n"


class DatasetIntegrityError(IntegrityError):
    """A published dataset folder does not match its manifest (the message names the file; exit code 4)."""


class RepoNotFoundError(NotFoundError, ValueError):
    """A repo id, folder, config or registered name that does not exist (exit code 3).

    Also a ``ValueError``, as these errors were before the typed hierarchy, so existing ``except ValueError`` code
    keeps working.
    """


class RepoMissingError(RepoNotFoundError):
    """The repo itself is nowhere: not a local folder (nor in the local hub) and not on the Hub.

    A config or split that a repo lacks is a plain :class:`RepoNotFoundError`.
    """


_SHARD = re.compile(r"^data/([A-Za-z0-9._-]+)/([A-Za-z0-9._-]+\.parquet)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# -- locations and ids ---------------------------------------------------------------------------------------------
def user_cache_dir() -> Path:
    """The per-user cache folder of qchaos: ``$XDG_CACHE_HOME/qchaos`` (default ``~/.cache/qchaos``).

    The same convention as huggingface_hub's ``~/.cache/huggingface``.
    """
    return Path(os.environ.get("XDG_CACHE_HOME") or Path("~") / ".cache").expanduser() / "qchaos"


def hub_root() -> Path:
    """The local hub folder: ``$QCHAOS_HUB`` when set, else ``<user cache>/hub`` (:func:`user_cache_dir`).

    Read at every call. An absolute path (``~`` expanded), never relative to a working directory the user did not
    name.
    """
    env = os.environ.get("QCHAOS_HUB")
    return Path(env).expanduser() if env else user_cache_dir() / "hub"


def package_file(package: str, name: str) -> Path:
    """A data file shipped inside an installed package (``importlib.resources``).

    E.g. ``package_file("dataset_cards", "model_card.md")``; :class:`MissingResource` if the install lacks it.
    """
    from importlib import resources

    from .errors import MissingResource

    path = Path(str(resources.files(package) / name))
    if not path.exists():
        raise MissingResource(f"{package}/{name}: not in the installed package ({path}); reinstall qchaos-hub "
                              "(`pip install .` builds it with its package data)")
    return path


def card_template(name: str) -> str:
    """The text of a card template of ``dataset_cards`` (package data), e.g. ``"twobody_dataset.md"``."""
    return package_file("dataset_cards", name).read_text(encoding="utf-8")


def parse_repo_id(repo_id: str) -> tuple[str, str]:
    """``"org/name"`` -> ``("org", "name")``; ``ValueError`` naming the id and the accepted form otherwise.

    Both parts: 1-96 characters from ``[A-Za-z0-9._-]``, starting and ending alphanumeric, no ``..`` or ``--``
    (the Hub's rules).
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ParameterError(f"repo_id = {repo_id!r}: must be 'org/name' (e.g. '{DEFAULT_ORG}/twobody-mini')")
    org, name = repo_id.split("/")
    for part in (org, name):
        if not _NAME.fullmatch(part) or ".." in part or "--" in part:
            raise ParameterError(f"repo_id = {repo_id!r}: org and name must be 1-96 characters of letters, digits, "
                             "'.', '_', '-', start and end with a letter or digit, and contain no '..' or '--'")
    return org, name


def local_repo_path(repo_id: str, repo_type: str = "dataset", root: str | Path | None = None) -> Path:
    """``<hub root>/datasets/<org>/<name>`` (or ``models/...``) of a repo id."""
    if repo_type not in REPO_TYPES:
        raise ParameterError(f"repo_type = {repo_type!r}: must be one of {list(REPO_TYPES)}")
    org, name = parse_repo_id(repo_id)
    return Path(root if root is not None else hub_root()) / f"{repo_type}s" / org / name


# -- integrity -----------------------------------------------------------------------------------------------------
def write_json(path: str | Path, obj) -> None:
    """Write ``obj`` as indented JSON (NaN allowed) atomically.

    Written to ``<name>.tmp``, then renamed over ``path``, so an interrupted write never leaves a truncated file.
    Creates the parent folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=False, allow_nan=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(path: str | Path) -> dict:
    """The parsed ``data/manifest.json`` of a dataset folder (``DatasetIntegrityError`` if absent or invalid)."""
    mpath = Path(path) / MANIFEST
    if not mpath.is_file():
        raise DatasetIntegrityError(f"{mpath}: missing; {path} is not a dataset published by qchaos "
                                    "(no shard checksums to verify against)")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetIntegrityError(f"{mpath}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT \
            or not isinstance(manifest.get("files"), dict):
        raise DatasetIntegrityError(f"{mpath}: not a {MANIFEST_FORMAT} manifest")
    for rel, entry in manifest["files"].items():
        _check_entry(mpath, rel, entry)
    return manifest


def _check_entry(mpath: Path, rel, entry) -> None:
    """Check one manifest entry: a shard of its own config inside the repo, with a size and a sha256.

    A manifest entry must name a shard ``data/<config>/<name>.parquet`` of its own config inside the repo, with an
    integer size and a sha256 (``DatasetIntegrityError`` naming the entry otherwise; nothing outside the repo is
    ever opened).
    """
    m = _SHARD.fullmatch(rel) if isinstance(rel, str) else None
    if m is None or ".." in rel:
        raise DatasetIntegrityError(f"{mpath}: entry {str(rel)[:80]!r} is not a shard path data/<config>/<name>.parquet "
                                    "inside the repo; refusing the manifest")
    ok = isinstance(entry, dict) and entry.get("config") == m.group(1) and isinstance(entry.get("split"), str) \
        and isinstance(entry.get("size"), int) and entry["size"] >= 0 and isinstance(entry.get("sha256"), str) \
        and _SHA256.fullmatch(entry["sha256"]) is not None
    if not ok:
        raise DatasetIntegrityError(f"{mpath}: entry {rel!r} must have config {m.group(1)!r}, a split, an integer "
                                    "size and a sha256")


def verify_dataset(path: str | Path, configs: list[str] | str | None = None) -> dict:
    """Check every parquet shard of a published dataset folder against ``data/manifest.json``.

    Parameters:
        path: the repo folder (local hub folder or a downloaded snapshot).
        configs: only these configs (default: all); their shards must all be present.

    Returns the manifest. Raises :class:`DatasetIntegrityError` naming the file for a missing shard, a size
    mismatch (truncated or extended), a sha256 mismatch (corrupted), or a parquet file under ``data/<config>/``
    that the manifest does not list (``load_dataset`` would silently read it through the split glob).
    """
    path = Path(path)
    manifest = read_manifest(path)
    if isinstance(configs, str):
        configs = [configs]
    known = sorted(manifest.get("configs", {}))
    if configs is not None:
        unknown = [c for c in configs if c not in known]
        if unknown:
            raise RepoNotFoundError(f"config = {unknown[0]!r}: {path} has configs {known}")
    selected = set(configs) if configs is not None else set(known)
    for rel, entry in sorted(manifest["files"].items()):
        if entry.get("config") not in selected:
            continue
        fpath = path / rel
        if not fpath.is_file():
            raise DatasetIntegrityError(f"{rel}: shard missing from {path} (listed in {MANIFEST})")
        size = fpath.stat().st_size
        if size != entry["size"]:
            what = "truncated" if size < entry["size"] else "has extra bytes"
            raise DatasetIntegrityError(f"{rel}: {what} ({size} bytes, the manifest records {entry['size']}); "
                                        "re-download or re-publish it")
        digest = sha256_file(fpath)
        if digest != entry["sha256"]:
            raise DatasetIntegrityError(f"{rel}: corrupted (sha256 {digest[:16]}..., the manifest records "
                                        f"{entry['sha256'][:16]}...); re-download or re-publish it")
    for config in sorted(selected):
        for fpath in sorted((path / "data" / config).glob("*.parquet")):
            rel = fpath.relative_to(path).as_posix()
            if rel not in manifest["files"]:
                raise DatasetIntegrityError(f"{rel}: not listed in {MANIFEST} (a stray shard would be loaded "
                                            "with the data); remove it or re-publish")
    return manifest


# -- Hub -----------------------------------------------------------------------------------------------------------
def push_folder(path: str | Path, repo_id: str, repo_type: str = "dataset", *, private: bool = False,
                commit_message: str | None = None, token: str | None = None, delete_stale: bool = True) -> str:
    """Upload a repo folder to the Hub named by ``HF_ENDPOINT`` (``create_repo`` + ``upload_folder``).

    ``token`` defaults to ``HF_TOKEN`` / the stored login (huggingface_hub's own lookup). With ``delete_stale``,
    files under ``data/`` on the Hub that the folder no longer has (e.g. shards of an earlier publish with more
    shards) are deleted in the same commit. Returns the commit URL.
    """
    from huggingface_hub import HfApi

    parse_repo_id(repo_id)
    if repo_type not in REPO_TYPES:
        raise ParameterError(f"repo_type = {repo_type!r}: must be one of {list(REPO_TYPES)}")
    path = Path(path)
    if not path.is_dir():
        raise RepoNotFoundError(f"path = {path}: not a folder")
    api = HfApi(token=token)
    with hub_errors(f"push {repo_type} {repo_id}"):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(path), repo_type=repo_type,
                                 commit_message=commit_message or f"Upload {repo_id} (qchaos)",
                                 delete_patterns=["data/**"] if delete_stale else None,
                                 ignore_patterns=[".git/*", ".cache/*"])
    return str(getattr(info, "commit_url", info))


def _network_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure to talk to a server.

    An ``OSError`` (huggingface_hub's HTTP errors, socket errors) or an error of the HTTP client library (httpx /
    requests / urllib3 transport errors).
    """
    return isinstance(exc, OSError) or any(
        c.__module__.split(".")[0] in ("httpx", "httpx2", "requests", "urllib3") for c in type(exc).__mro__)


@contextlib.contextmanager
def hub_errors(what: str):
    """Turn a failure to reach or use the Hub inside the block into :class:`EnvironmentFault`.

    Failures are a connection refused, a timeout, an HTTP error or no token; the fault names ``HF_ENDPOINT`` and
    ``what`` was attempted.
    """
    try:
        yield
    except QchaosError:
        raise
    except Exception as exc:
        if not _network_error(exc):
            raise
        from huggingface_hub import constants

        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EnvironmentFault(f"{what}: the Hub {constants.ENDPOINT} failed ({type(exc).__name__}: {first}); "
                               "check the network, HF_ENDPOINT and HF_TOKEN") from exc


def _resolve(repo_id_or_path: str | Path, source: str) -> tuple[Path | None, str | None]:
    """(local folder, None) or (None, Hub repo id)."""
    if source not in ("auto", "local", "hub"):
        raise ParameterError(f"source = {source!r}: must be 'auto', 'local' or 'hub'")
    text = str(repo_id_or_path)
    candidate = Path(text)
    if source != "hub" and candidate.is_dir():
        return candidate, None
    is_id = text.count("/") == 1 and not text.startswith((".", "/")) and bool(_NAME.fullmatch(text.split("/")[0]))
    if is_id and source != "hub":
        local = local_repo_path(text)
        if local.is_dir():
            return local, None
    if source == "local":
        raise RepoMissingError(f"repo_id_or_path = {text!r}: no such folder (nor {hub_root()}/datasets/{text}); "
                               "publish it with `qchaos publish` or set QCHAOS_HUB")
    if not is_id:
        raise RepoMissingError(f"repo_id_or_path = {text!r}: neither an existing folder nor a repo id 'org/name'")
    parse_repo_id(text)
    return None, text


def load(repo_id_or_path: str | Path, config: str | None = None, split: str | None = None, *,
         source: str = "auto", revision: str | None = None, **kwargs):
    """``datasets.load_dataset`` of a published dataset, after verifying its shards against the manifest.

    Parameters:
        repo_id_or_path: a repo folder, or a repo id ``org/name``: with ``source="auto"`` the local hub folder
            ``$QCHAOS_HUB/datasets/org/name`` when it exists, else the Hub (``HF_ENDPOINT``).
        config: ``wavefunctions`` / ``spectra`` (two atoms), ``resonances`` / ``spectra`` (tribaker); default the
            repo's default config.
        split: ``train``, ``validation``, ``test``, ``holdout`` (if published); default all (a ``DatasetDict``).
        source: ``"auto"``, ``"local"`` (never the network) or ``"hub"``.
        revision: Hub revision (branch, tag, commit).
        kwargs: passed on to ``load_dataset`` (e.g. ``cache_dir``).

    From the Hub, the README, the manifest and the config's shards are fetched with ``snapshot_download`` (into
    the HF cache, so a later call works with ``HF_HUB_OFFLINE=1``), verified, and loaded from that folder.
    Raises :class:`DatasetIntegrityError` naming the first bad file.
    """
    import datasets

    folder, repo_id = _resolve(repo_id_or_path, source)
    if repo_id is None and revision is not None:
        raise ParameterError(f"revision = {revision!r}: only for a Hub repo, but {folder} is a local folder (no "
                             "revisions); drop revision, or pass source='hub'")
    if repo_id is not None:
        patterns = ["README.md", MANIFEST] + ([f"data/{config}/*"] if config else ["data/**"])
        folder = hub_snapshot(repo_id, "dataset", revision=revision, allow_patterns=patterns)
    manifest = read_manifest(folder)
    if config is None:
        config = manifest.get("default_config")
    verify_dataset(folder, [config] if config else None)
    # exactly the verified shards of the manifest, never the card's data_files globs (which could name any file)
    files: dict[str, list[str]] = {}
    for rel, entry in sorted(manifest["files"].items()):
        if entry["config"] == config:
            files.setdefault(entry["split"], []).append(str(Path(folder) / rel))
    order = list((manifest.get("configs") or {}).get(config) or files)
    data_files = {s: files[s] for s in order if s in files}
    if split is not None and str(split).split("[")[0] not in data_files:
        raise RepoNotFoundError(f"split = {split!r}: {config} has splits {list(data_files)}")
    return datasets.load_dataset("parquet", data_files=data_files, split=split, **kwargs)


def hub_snapshot(repo_id: str, repo_type: str = "dataset", **kwargs) -> Path:
    """``snapshot_download`` of a Hub repo into the HF cache, with the Hub's failures typed.

    A repo or revision that does not exist -> :class:`RepoNotFoundError`; no connection, offline mode without a
    cached copy, a server error -> :class:`EnvironmentFault` naming ``HF_ENDPOINT``.
    """
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return Path(snapshot_download(repo_id, repo_type=repo_type, **kwargs))
    except LocalEntryNotFoundError as exc:
        raise EnvironmentFault(f"{repo_type} {repo_id!r}: the Hub {constants.ENDPOINT} is unreachable (or "
                               "HF_HUB_OFFLINE=1) and the repo is not in the HF cache; check the network / HF_ENDPOINT, "
                               "or use a local folder") from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError, GatedRepoError) as exc:
        raise RepoMissingError(f"{repo_type} {repo_id!r}: not found on the Hub {constants.ENDPOINT} "
                               f"({type(exc).__name__}); check the id and revision, or publish it first") from exc
    except Exception as exc:  # connection refused, timeout, HTTP 5xx
        if not _network_error(exc):
            raise
        raise EnvironmentFault(f"{repo_type} {repo_id!r}: the Hub {constants.ENDPOINT} failed ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}); check the network / HF_ENDPOINT") \
            from exc
