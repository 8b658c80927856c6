"""``HubModel``: the base class of the package's models (``torch.nn.Module`` + ``PyTorchModelHubMixin``).

A saved model is a folder laid out like its Hub repo (``docs/data-format.md`` §3 (model repos))::

    config.json          constructor arguments (PyTorchModelHubMixin); from_pretrained passes them back to __init__
    model.safetensors    the state dict
    qchaos.json          model class, sha256 + size of model.safetensors, meta (input, classes, dataset, metrics)
    README.md            model card rendered from dataset_cards/model_card.md (package data)

* ``save_pretrained(folder)`` writes all four (deterministic bytes, no timestamps); ``push_to_hub("qchaos/x")``
  (the mixin's, honours ``HF_ENDPOINT``/``HF_TOKEN``) uploads them; ``save_to_local_hub("qchaos/x")`` saves into
  ``$QCHAOS_HUB/models/qchaos/x``.
* ``Model.from_pretrained(id_or_path)``: a folder; or a repo id: a checkpoint shipped with the package
  (``qchaos/pretrained/``, :func:`qchaos.registry.shipped_path`, from any working directory), else the local hub
  folder when it exists (works with ``HF_HUB_OFFLINE=1``; ``source="local"`` prefers it to a shipped checkpoint of
  the same name), else downloaded from the Hub (``snapshot_download``, so a later offline call finds it in the HF
  cache). A registered id (:mod:`qchaos.registry`) downloads the registry's pinned revision, and its weights must
  match the registry's sha256 wherever they come from (shipped, local hub, Hub; ``verify_registry=False`` for a
  local retrain under a registered name). Before any tensor is read, the size and sha256 of ``model.safetensors``
  are checked against ``qchaos.json`` (:class:`ModelIntegrityError` naming the file); loading is strict: the
  checkpoint's class must be the caller's and every tensor name and shape must match the model built from
  ``config.json`` (``ValueError`` naming the class, its arguments and the offending shapes).

Subclasses (``DensityCNN``, ``QuantumLocalizationNet``) define ``__init__`` with JSON-serialisable arguments,
call ``super().__init__()``, and set the class attributes ``classes`` / ``input_shape`` / ``input_description``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch
import torch.nn as nn
from huggingface_hub import ModelCard, ModelCardData, PyTorchModelHubMixin

from qchaos import __version__
from qchaos.errors import IntegrityError, ParameterError
from qchaos.hub import DEFAULT_ORG, RepoNotFoundError, card_template, local_repo_path, parse_repo_id, sha256_file

_SHA256 = re.compile(r"[0-9a-f]{64}")

WEIGHTS, CONFIG, RECORD, CARD = "model.safetensors", "config.json", "qchaos.json", "README.md"
RECORD_FORMAT = "qchaos-model/1"
MODEL_MODULES = {"DensityCNN": "modeling.density_cnn", "QuantumLocalizationNet": "modeling.quantum_net"}
"""The package's model classes and the modules that define them: ``HubModel.from_pretrained`` imports the one a
checkpoint names (other subclasses must be imported by the caller first)."""
REPO_URL = "https://github.com/qchaos/qchaos-hub"
META_KEYS = ("name", "description", "input", "input_shape", "classes", "dataset", "dataset_config", "metrics",
             "training")


class ModelIntegrityError(IntegrityError):
    """A checkpoint's weights file is missing, truncated, corrupted or unreadable (the message names the file)."""


class HubModel(nn.Module, PyTorchModelHubMixin, library_name="qchaos-hub", license="mit",
               tags=["qchaos", "quantum-chaos", "physics"], repo_url=REPO_URL,
               model_card_template=card_template("model_card.md")):
    """Base class: PyTorchModelHubMixin with a ``qchaos.json`` record, a model card and verified, strict loading."""

    classes: tuple[str, ...] = ()  # names of the output classes, in logit order
    predict_batch_size: int = 256  # samples per forward pass in predict_proba
    input_shape: tuple | None = None  # shape of one input sample (may be set per instance in __init__)
    input_description: str = ""

    def __init__(self):
        super().__init__()
        self.hub_meta: dict = {}

    input_range: tuple[float, float] | None = None  # accepted value range of the inputs (None: any finite)

    def check_values(self, x) -> None:
        """Refuse an input that is not a tensor of finite values inside ``input_range``.

        ``ParameterError`` unless ``x`` is a tensor of finite values (real part and imaginary part) inside
        ``input_range`` (when the class sets one).
        """
        from qchaos.errors import ParameterError

        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise ParameterError(f"{name}: input must be a torch tensor, got {type(x).__name__}")
        if x.numel() == 0:
            return
        values = torch.view_as_real(x) if x.is_complex() else x
        if values.is_floating_point() and not bool(torch.isfinite(values).all()):
            bad = int((~torch.isfinite(values)).sum())
            raise ParameterError(f"{name}: input has {bad} non-finite values (NaN or inf); give finite inputs")
        if self.input_range is not None and not x.is_complex():
            lo, hi = self.input_range
            mn, mx = float(values.min()), float(values.max())
            if mn < lo or mx > hi:
                raise ParameterError(f"{name}: input values must lie in [{lo:g}, {hi:g}] ({self.input_description or 'see the model card'}); "
                                     f"got [{mn:g}, {mx:g}] (e.g. 0-255 images must be scaled to [0, 1])")

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """Softmax confidences (B, len(classes)) of a classifier's logits.

        Computed in batches, in eval mode (the mode is restored). ``ParameterError`` for a batch size < 1,
        non-finite inputs or inputs outside ``input_range``.
        """
        from qchaos.errors import ParameterError

        if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) != batch_size
                                       or batch_size < 1):
            raise ParameterError(f"batch_size = {batch_size!r}: must be an integer >= 1")
        self.check_values(x)
        step = int(batch_size or self.predict_batch_size)
        was = self.training
        self.eval()
        try:
            out = [torch.softmax(self(x[i:i + step]), dim=-1) for i in range(0, len(x), step)]
        finally:
            self.train(was)
        return torch.cat(out) if out else torch.empty(0, len(self.classes))

    # -- metadata --------------------------------------------------------------------------------------------------
    def set_meta(self, **meta) -> HubModel:
        """Record metadata for ``qchaos.json`` and the card.

        Any of :data:`META_KEYS`, e.g. ``dataset="qchaos/twobody-paper", dataset_config="wavefunctions",
        metrics={"accuracy": {"test": 0.99}}, training={"epochs": 10}``. Returns ``self``.
        """
        unknown = sorted(set(meta) - set(META_KEYS))
        if unknown:
            raise ValueError(f"meta key {unknown[0]!r}: unknown; allowed: {', '.join(META_KEYS)}")
        self.hub_meta.update(copy.deepcopy(meta))
        return self

    def get_meta(self) -> dict:
        """The metadata written to ``qchaos.json``: the class defaults updated by :meth:`set_meta`."""
        shape = self.input_shape
        meta = {"name": None, "description": "", "input": self.input_description,
                "input_shape": list(shape) if shape is not None else None, "classes": list(self.classes),
                "dataset": None, "dataset_config": None, "metrics": {}, "training": {}}
        meta.update(copy.deepcopy(self.hub_meta))
        return meta

    def _config(self, config=None) -> dict:
        config = self._hub_mixin_config if config is None else config
        return dict(asdict(config) if is_dataclass(config) else (config or {}))

    @contextlib.contextmanager
    def _named(self, repo_id: str):
        parse_repo_id(repo_id)
        before = self.hub_meta.get("name", None)
        self.hub_meta["name"] = repo_id
        try:
            yield
        finally:
            if before is None:
                self.hub_meta.pop("name", None)
            else:
                self.hub_meta["name"] = before

    # -- saving ----------------------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory, *, config=None, repo_id: str | None = None, push_to_hub: bool = False,
                        model_card_kwargs: dict | None = None, **push_to_hub_kwargs):
        """Write ``model.safetensors``, ``config.json``, ``qchaos.json`` and the ``README.md`` card.

        The card is overwritten: it is generated from the metadata. With ``push_to_hub=True`` also push to
        ``repo_id``.
        """
        from qchaos.atomic import disk_full, disk_full_fault, recover, staging_path, swap_in, writer_lock

        folder = Path(save_directory)
        with writer_lock(folder, "save_directory"):
            recover(folder, complete=lambda p: (p / RECORD).is_file())
            staging = staging_path(folder, "new")
            if staging.exists():
                shutil.rmtree(staging)
            staging.mkdir(parents=True)
            existed = folder.exists()
            try:
                config = self._write_version(staging, config, repo_id, model_card_kwargs)
                swap_in(staging, folder, keep_extras=True)
            except Exception as exc:
                if disk_full(exc):
                    raise disk_full_fault("save_directory", folder, exc, "nothing was saved (" + (
                        "the previous checkpoint is intact" if existed else "no checkpoint written") + ")") from exc
                raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        if push_to_hub:
            return self.push_to_hub(repo_id or folder.name, config=config, model_card_kwargs=model_card_kwargs,
                                    **push_to_hub_kwargs)
        return None

    def _write_version(self, folder: Path, config, repo_id, model_card_kwargs) -> dict:
        """Write the four files of a checkpoint into the (new, empty) ``folder``; returns the config written.

        ``qchaos.json`` records the sha256 of the weights, of ``config.json`` and of the card, so none of them can
        change unnoticed (:func:`verify_folder`).
        """
        import safetensors.torch

        weights = folder / WEIGHTS
        safetensors.torch.save_model(self, str(weights), metadata={"format": "pt"})
        os.chmod(weights, 0o644)  # safetensors writes through a 0600 temp file
        config = self._config(config)
        (folder / CONFIG).write_text(json.dumps(config, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        meta = self.get_meta()
        if repo_id and not meta["name"]:
            meta["name"] = repo_id
        record = {"format": RECORD_FORMAT, "model_class": type(self).__name__, "module": type(self).__module__,
                  "weights": {"file": WEIGHTS, "sha256": sha256_file(weights), "size": weights.stat().st_size},
                  "meta": meta, "package_version": __version__}
        card = self.generate_model_card(record=record, config=config, **(model_card_kwargs or {}))
        (folder / CARD).write_text(str(card), encoding="utf-8")
        record["config_sha256"] = sha256_file(folder / CONFIG)
        record["card_sha256"] = sha256_file(folder / CARD)
        record["record_sha256"] = record_digest(record)
        (folder / RECORD).write_text(json.dumps(record, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        return config

    def push_to_hub(self, repo_id: str, **kwargs) -> str:
        """The mixin's ``push_to_hub`` (``HF_ENDPOINT``, ``HF_TOKEN``); the card and record name ``repo_id``."""
        from qchaos.hub import hub_errors

        with self._named(repo_id), hub_errors(f"push model {repo_id}"):
            return super().push_to_hub(repo_id, **kwargs)

    def save_to_local_hub(self, repo_id: str, root=None) -> Path:
        """``save_pretrained`` into the local hub folder ``$QCHAOS_HUB/models/<org>/<name>``; returns it."""
        folder = local_repo_path(repo_id, "model", root)
        with self._named(repo_id):
            self.save_pretrained(folder)
        return folder

    def generate_model_card(self, record: dict | None = None, config: dict | None = None, **kwargs) -> ModelCard:
        """The README model card (template ``dataset_cards/model_card.md``; ``kwargs`` override its variables)."""
        meta = record["meta"] if record else self.get_meta()
        weights = record["weights"] if record else {"sha256": "(not saved)", "size": "-"}
        info = self._hub_mixin_info
        data = ModelCardData(**info.model_card_data.to_dict())
        if meta.get("dataset"):
            data.datasets = [meta["dataset"]]
        metrics = meta.get("metrics") or {}
        if metrics:
            data.metrics = sorted(metrics)
        rows = []
        for name, value in sorted(metrics.items()):
            for split, v in (sorted(value.items()) if isinstance(value, dict) else [("", value)]):
                for sub, w in (sorted(v.items()) if isinstance(v, dict) else [("", v)]):  # e.g. per reflectivity
                    where = ", ".join(x for x in (split, sub) if x) or "-"
                    rows.append((name, where, f"{w:.4g}" if isinstance(w, float) else w))
        cls = type(self)
        variables = dict(
            model_name=meta.get("name") or cls.__name__, repo_id=meta.get("name") or f"{DEFAULT_ORG}/<name>",
            model_class=cls.__name__,
            module=cls.__module__, description=meta.get("description"), input=meta.get("input"),
            input_shape=tuple(meta["input_shape"]) if meta.get("input_shape") else None, classes=meta.get("classes"),
            dataset=meta.get("dataset"), dataset_config=meta.get("dataset_config"), training=meta.get("training"),
            metric_rows=rows, config=self._config(config), weights_sha256=weights["sha256"],
            weights_size=weights["size"], repo_url=info.repo_url, package_version=__version__)
        variables.update(kwargs)
        return ModelCard.from_template(data, template_str=info.model_card_template, **variables)

    # -- loading ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, source: str = "auto", revision: str | None = None,
                        cache_dir=None, force_download: bool = False, local_files_only: bool = False, token=None,
                        map_location: str = "cpu", verify_registry: bool = True, **model_kwargs):
        """Load a saved model, verified and strictly.

        Parameters:
            pretrained_model_name_or_path: a folder, or a repo id ``org/name``. With ``source="auto"``: a checkpoint
                shipped with the package (:func:`qchaos.registry.shipped_path`, whatever the working directory and
                ``$QCHAOS_HUB``), else the local hub folder ``$QCHAOS_HUB/models/org/name`` when it exists, else the
                Hub (``HF_ENDPOINT``).
            source: ``"auto"``; ``"local"`` (never the network): the local hub folder first, so a model trained or
                published under a shipped name takes precedence, else the shipped checkpoint; ``"hub"``: the Hub.
            revision, cache_dir, force_download, local_files_only, token: for the Hub download
                (``snapshot_download``); a registered model defaults to the registry's pinned revision.
            map_location: device of the loaded tensors.
            verify_registry: a registered name (:mod:`qchaos.registry`) must come with the registry's weights: the
                sha256 of ``model.safetensors`` must equal the entry's ``sha256``, wherever the weights come from
                (shipped with the package, the local hub folder, a Hub download), else :class:`ModelIntegrityError`
                naming the file and both digests. ``False`` accepts a checkpoint retrained locally under a
                registered name (still checked against its own ``qchaos.json``).
            model_kwargs: override ``config.json`` entries (must still fit the checkpoint's shapes).

        Calling it on ``HubModel`` itself returns an instance of the checkpoint's class: the package's classes
        (:data:`MODEL_MODULES`) are imported as needed; another subclass must be imported first.
        Raises :class:`ModelIntegrityError` (a ``ValueError``) for a missing/truncated/corrupted/unreadable
        ``model.safetensors``, a ``qchaos.json`` that is not a valid record (:func:`read_record`) or a
        ``config.json`` that is not a JSON object (:func:`read_config`), and ``ValueError`` for a checkpoint of
        another class or with other tensor shapes.
        """
        from qchaos.registry import MODELS

        folder, repo_id = _resolve(pretrained_model_name_or_path, source)
        name = str(pretrained_model_name_or_path)
        entry = MODELS.get(repo_id if repo_id is not None else name)  # a registered name, wherever it resolved
        registered = entry.get("sha256") if entry is not None and verify_registry else None
        if repo_id is not None:
            from qchaos.hub import hub_snapshot

            if entry is not None and revision is None and entry.get("revision"):
                revision = entry["revision"]
            folder = hub_snapshot(repo_id, "model", revision=revision, cache_dir=cache_dir, token=token,
                                  force_download=force_download, local_files_only=local_files_only,
                                  allow_patterns=[CONFIG, RECORD, WEIGHTS])
        record = read_record(folder)
        target = cls._checkpoint_class(record, folder)
        verify_weights(folder, record, registered)
        read_config(folder)
        model = super(HubModel, target).from_pretrained(str(folder), map_location=map_location, **model_kwargs)
        model.hub_meta = copy.deepcopy(record.get("meta") or {})
        return model

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision, cache_dir, force_download, local_files_only, token,
                         map_location: str = "cpu", **model_kwargs):
        """Called by the mixin's ``from_pretrained`` with the verified folder and the config kwargs."""
        check_shapes_before_build(cls, model_kwargs, Path(model_id) / WEIGHTS)
        model = cls(**model_kwargs)
        load_weights(model, Path(model_id) / WEIGHTS, map_location)
        model.eval()
        return model

    @classmethod
    def _checkpoint_class(cls, record: dict, folder: Path) -> type:
        name = record.get("model_class")
        if cls is not HubModel:
            if name != cls.__name__:
                raise ParameterError(f"{folder}: a checkpoint of {name} (see {RECORD}), not of {cls.__name__}; load it "
                                 f"with {name}.from_pretrained(...)")
            return cls
        found = _subclasses_named(name)
        if not found and name in MODEL_MODULES:
            import importlib

            importlib.import_module(MODEL_MODULES[name])
            found = _subclasses_named(name)
        if not found:
            known = sorted(set(MODEL_MODULES) | {c.__name__ for c in _subclasses_named(None)})
            raise RepoNotFoundError(f"{folder}: a checkpoint of model class {name!r} ({RECORD}), which is not "
                                    f"registered; known classes: {', '.join(known)} (import the module that defines "
                                    f"{name}, {record.get('module')}, first)")
        same_module = [c for c in found if c.__module__ == record.get("module")]
        return (same_module or found)[-1]


def _subclasses_named(name: str | None) -> list[type]:
    """Every (transitive) subclass of :class:`HubModel` called ``name`` (all of them for ``None``)."""
    found, todo = [], list(HubModel.__subclasses__())
    while todo:
        sub = todo.pop()
        todo.extend(sub.__subclasses__())
        if name is None or sub.__name__ == name:
            found.append(sub)
    return found


# -- helpers -------------------------------------------------------------------------------------------------------
def _resolve(id_or_path, source: str) -> tuple[Path | None, str | None]:
    """(local folder, None) or (None, Hub repo id); the model analogue of ``qchaos.hub``'s dataset resolution.

    A repo id: ``"auto"`` -> the shipped checkpoint, else the local hub folder, else the Hub; ``"local"`` -> the
    local hub folder, else the shipped checkpoint (never the network); ``"hub"`` -> the Hub.
    """
    from qchaos.registry import shipped_path

    if source not in ("auto", "local", "hub"):
        raise ParameterError(f"source = {source!r}: must be 'auto', 'local' or 'hub'")
    text = str(id_or_path)
    if source != "hub" and Path(text).is_dir():
        return Path(text), None
    is_id = text.count("/") == 1 and not text.startswith((".", "/", "~"))
    if is_id:
        parse_repo_id(text)
        shipped, local = shipped_path(text), local_repo_path(text, "model")
        if source == "auto" and shipped is not None:
            return shipped, None
        if source != "hub" and local.is_dir():
            return local, None
        if source == "local" and shipped is not None:
            return shipped, None
    if source == "local":
        where = f" (nor {local_repo_path(text, 'model')})" if is_id else ""
        raise RepoNotFoundError(f"pretrained_model_name_or_path = {text!r}: no such folder{where}; train or save it "
                                "there, or set QCHAOS_HUB")
    if not is_id:
        raise RepoNotFoundError(f"pretrained_model_name_or_path = {text!r}: neither an existing folder nor a repo "
                                "id 'org/name'")
    return None, text


def read_record(folder) -> dict:
    """The parsed ``qchaos.json`` of a model folder (:class:`ModelIntegrityError` if absent or invalid).

    The record must be a JSON object with ``format`` :data:`RECORD_FORMAT`, ``weights`` an object with an integer
    ``size`` >= 0 and a ``sha256`` of 64 hex digits, and ``meta`` (when present) an object; anything else (a
    hostile or damaged file) is refused naming the field, before any of it is used.
    """
    path = Path(folder) / RECORD
    if not path.is_file():
        raise ModelIntegrityError(f"{path}: missing; {folder} is not a model saved by qchaos (no sha256 of "
                                  f"{WEIGHTS} to verify against)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelIntegrityError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        got = f"format = {str(record.get('format'))[:40]!r}" if isinstance(record, dict) else \
            f"a JSON {type(record).__name__}"
        raise ModelIntegrityError(f"{path}: not a {RECORD_FORMAT} record (must be a JSON object with format = "
                                  f"{RECORD_FORMAT!r}; got {got})")
    weights = record.get("weights")
    if not isinstance(weights, dict):
        raise ModelIntegrityError(f"{path}: weights = {str(weights)[:40]!r}: must be an object with the size and "
                                  f"sha256 of {WEIGHTS}")
    size, digest = weights.get("size"), weights.get("sha256")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ModelIntegrityError(f"{path}: weights.size = {str(size)[:40]!r}: must be an integer >= 0 (the byte "
                                  f"size of {WEIGHTS})")
    if not isinstance(digest, str) or _SHA256.fullmatch(digest) is None:
        raise ModelIntegrityError(f"{path}: weights.sha256 = {str(digest)[:80]!r}: must be 64 lowercase hex digits "
                                  f"(the sha256 of {WEIGHTS})")
    if not isinstance(record.get("meta", {}), dict):
        raise ModelIntegrityError(f"{path}: meta = {str(record['meta'])[:40]!r}: must be an object (name, input, "
                                  "classes, metrics, ...)")
    return record


def read_config(folder) -> dict | None:
    """The constructor arguments in ``config.json`` of a model folder (``None`` when it has none).

    :class:`ModelIntegrityError` naming the file unless it is a JSON object ``{argument: value}`` (a JSON list,
    string or number, or text that is not JSON, would otherwise fail inside the mixin with a bare
    ``AttributeError`` or ``JSONDecodeError``).
    """
    path = Path(folder) / CONFIG
    if not path.is_file():
        return None
    hint = "re-download the model or save it again"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelIntegrityError(f"{path}: unreadable, not JSON ({exc}); it must hold the constructor arguments "
                                  f"as a JSON object; {hint}") from exc
    if not isinstance(config, dict):
        raise ModelIntegrityError(f"{path}: must be a JSON object of constructor arguments {{name: value}}, got a "
                                  f"JSON {type(config).__name__}; {hint}")
    return config


def record_digest(record: dict) -> str:
    """sha256 of a ``qchaos.json`` record's canonical JSON without its own ``record_sha256``.

    It covers the metadata: metrics, dataset, classes.
    """
    import hashlib

    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def verify_weights(folder, record: dict, expected_sha256: str | None = None) -> None:
    """Check size and sha256 of ``model.safetensors`` against the record (and a registry sha256 if given)."""
    path = Path(folder) / WEIGHTS
    want = record["weights"]
    hint = "re-download it (force_download=True) or save the model again"
    if not path.is_file():
        raise ModelIntegrityError(f"{path}: missing ({RECORD} records {want['size']} bytes)")
    size = path.stat().st_size
    if size != want["size"]:
        what = "truncated" if size < want["size"] else "has extra bytes"
        raise ModelIntegrityError(f"{path}: {what} ({size} bytes, {RECORD} records {want['size']}); {hint}")
    digest = sha256_file(path)
    if digest != want["sha256"]:
        raise ModelIntegrityError(f"{path}: corrupted (sha256 {digest[:16]}..., {RECORD} records "
                                  f"{want['sha256'][:16]}...); {hint}")
    if record.get("record_sha256") is not None and record_digest(record) != record["record_sha256"]:
        raise ModelIntegrityError(f"{Path(folder) / RECORD}: its metadata changed since it was saved (sha256 "
                                  "mismatch); re-download the model or save it again")
    cfg_want = record.get("config_sha256")
    if cfg_want is not None:
        cfg = Path(folder) / CONFIG
        if not cfg.is_file():
            raise ModelIntegrityError(f"{cfg}: missing ({RECORD} records its sha256)")
        if sha256_file(cfg) != cfg_want:
            raise ModelIntegrityError(f"{cfg}: differs from the sha256 {RECORD} records (edited or corrupted); the "
                                      "model would be built with other arguments; re-download it or save it again")
    if expected_sha256 and digest != expected_sha256:
        raise ModelIntegrityError(f"{path}: sha256 {digest} differs from the registry's {expected_sha256} "
                                  "(qchaos.registry): not the registered weights of this name; use the shipped or "
                                  "published checkpoint, save a retrained model under another repo id, or load it "
                                  "with verify_registry=False")


def verify_folder(folder) -> list[tuple[str, str]]:
    """Every problem ``(file, what)`` of a saved model folder (``qchaos verify MODEL``).

    Checks the record, weights, ``config.json`` and card digests. An older record without config/card digests gives
    a ``"no sha256 ..."`` entry.
    """
    folder = Path(folder)
    problems = []
    try:
        record = read_record(folder)
    except ModelIntegrityError as exc:
        return [(RECORD, str(exc))]
    try:
        verify_weights(folder, record)
    except ModelIntegrityError as exc:
        name = Path(str(exc).split(":")[0]).name
        problems.append((name if name in (WEIGHTS, CONFIG, RECORD) else WEIGHTS, str(exc)))
    if record.get("config_sha256") is None:
        problems.append((CONFIG, "no sha256 recorded (saved by an older version)"))
    card = record.get("card_sha256")
    if card is None:
        problems.append((CARD, "no sha256 recorded (saved by an older version)"))
    elif not (folder / CARD).is_file():
        problems.append((CARD, f"missing ({RECORD} records its sha256)"))
    elif sha256_file(folder / CARD) != card:
        problems.append((CARD, f"differs from the sha256 {RECORD} records"))
    return problems


def check_shapes_before_build(cls, kwargs: dict, path) -> None:
    """Check that ``cls(**kwargs)`` fits the weights of ``path`` before anything real is allocated.

    Builds ``cls(**kwargs)`` on the meta device (no memory) and compares its tensor shapes with the safetensors
    header of ``path``: ``ValueError`` before any real allocation if the arguments do not fit the weights.
    """
    import safetensors

    try:
        with safetensors.safe_open(str(path), framework="pt") as fh:
            stored = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise ModelIntegrityError(f"{path}: not a readable safetensors file ({exc}); re-download it or save the "
                                  "model again") from exc
    try:
        with torch.device("meta"):
            probe = cls(**kwargs)
    except (TypeError, ValueError):
        raise
    except Exception:  # noqa: BLE001 - a constructor that cannot run on the meta device: checked after building
        return
    expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    bad = [f"{k} has shape {list(stored[k])} in the checkpoint, the model expects {list(expected[k])}"
           for k in sorted(stored) if k in expected and stored[k] != expected[k]]
    if bad:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(kwargs.items()))
        raise ParameterError(f"{path}: does not fit {cls.__name__}({args}) (built from config.json and the keyword "
                         "arguments): " + "; ".join(bad))


def load_weights(model: nn.Module, path, map_location: str = "cpu") -> None:
    """Load a safetensors file into ``model`` strictly: same tensor names and shapes, or ``ValueError``.

    An unreadable file (bad header, truncated data) raises :class:`ModelIntegrityError` naming it.
    """
    import safetensors
    import safetensors.torch

    path = Path(path)
    config = getattr(model, "_hub_mixin_config", None) or {}
    desc = f"{type(model).__name__}({', '.join(f'{k}={v!r}' for k, v in sorted(dict(config).items()))})"
    try:
        with safetensors.safe_open(str(path), framework="pt") as fh:
            stored = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise ModelIntegrityError(f"{path}: not a readable safetensors file ({exc}); re-download it or save the "
                                  "model again") from exc
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = [f"{k} has shape {list(stored[k])} in the checkpoint, the model expects {list(expected[k])}"
                for k in sorted(stored) if k in expected and stored[k] != expected[k]]
    unexpected = sorted(set(stored) - set(expected))
    if unexpected:
        problems.append(f"the checkpoint's tensors {unexpected} are not in the model")
    if not problems:
        try:
            missing, _ = safetensors.torch.load_model(model, str(path), strict=False, device=map_location)
        except safetensors.SafetensorError as exc:
            raise ModelIntegrityError(f"{path}: not a readable safetensors file ({exc})") from exc
        if missing:
            problems.append(f"the model's tensors {sorted(missing)} are missing from the checkpoint")
    if problems:
        raise ParameterError(f"{path}: does not fit {desc} (built from config.json and the keyword arguments): "
                         + "; ".join(problems))
