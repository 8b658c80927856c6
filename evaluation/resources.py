"""Datasets and checkpoints of the evaluation: reuse what is present, build what is missing.

:class:`Resources` is the only way experiments reach data and models:

* :meth:`Resources.dataset` — the repo id of a published dataset, by role: the typed table
  :data:`qchaos.registry.ROLES` (one :class:`~qchaos.registry.DatasetRole` per role, with the registered dataset that
  plays it at ``mini`` and at ``paper``; ``docs/evaluation.md`` lists them).

  Every two-atom dataset with images meets one image-quality rule (``generation.presets.image_quality_issues``),
  so ``mini`` and ``paper`` differ only in counts.

  A dataset missing from the local hub (``$QCHAOS_HUB``) is generated and published (``qchaos generate`` +
  ``qchaos publish``) when ``build`` is on; otherwise :class:`MissingResourceError` says how to make it.
* :meth:`Resources.model` — the reference checkpoint of a model kind: the shipped / published one in the local hub
  (``paper``: the registry's ``qchaos/<model>-<system>-paper``; ``mini``: ``qchaos/<model>-<system>-mini``), trained
  with seed 0 and saved there when missing (``build``) or when it was trained on another version of its dataset.
  ``shipped=True`` (experiments that only evaluate a trained net: robustness, time to a verdict) gives the shipped
  paper checkpoint at ``mini`` too; :meth:`Resources.model_role` names the dataset role it was trained on.
* :meth:`Resources.train` — a fresh training run (seeds, subsets, restricted mass ratios), never saved to the hub;
  its JSON log goes to ``<out>/runs/``.
"""

from __future__ import annotations

from pathlib import Path

from modeling.kinds import KINDS
from qchaos.errors import MissingResource, ParameterError
from qchaos.registry import ROLES
from qchaos.scales import USER_SCALES

__all__ = ["Resources", "MissingResourceError", "DATASET_ROLES", "MODEL_ROLES"]

DATASET_ROLES = {name: role.presets for name, role in ROLES.items()}
"""role -> preset -> (system, generation preset), from :data:`qchaos.registry.ROLES`; the repo id is
``qchaos/<system>-<generation preset>``."""

MODEL_ROLES = {name: kind.role for name, kind in KINDS.items()}
"""model kind -> the dataset role it trains on (:attr:`modeling.kinds.ModelKind.role`)."""

SHIPPED_ROLES = {name: kind.shipped_role for name, kind in KINDS.items() if kind.shipped_role}
"""model kind -> the dataset role of its shipped paper checkpoint, where that differs from :data:`MODEL_ROLES`."""


class MissingResourceError(MissingResource):
    """A dataset or checkpoint the evaluation needs is absent and building it is off (the message says how)."""


class Resources:
    """Datasets and models for one evaluation preset.

    Parameters:
        preset: ``mini`` or ``paper`` (or any name when ``datasets`` gives every role explicitly, e.g. ``tiny``).
        build: generate / publish / train what is missing (else :class:`MissingResourceError`).
        progress: progress bars of generation and training.
        datasets: role -> repo id, overriding :data:`DATASET_ROLES` (the tests' tiny datasets).
        train_preset: training settings preset (``modeling.train.TRAIN_PRESETS``); default the evaluation's own
            scale where users run it (``mini``, ``paper``), else the first of :data:`qchaos.scales.USER_SCALES`.
        train_overrides: settings applied to every training (e.g. ``{"epochs": 1}`` in tests).
        runs_dir: folder of the training logs (default ``runs/evaluate``).
        source: where datasets and checkpoints are read (``auto``: local hub, else the Hub; ``local``).
    """

    def __init__(self, preset: str, *, build: bool = True, progress: bool = True, datasets: dict | None = None,
                 train_preset: str | None = None, train_overrides: dict | None = None, runs_dir=None,
                 source: str = "auto"):
        self.preset = preset
        self.build = build
        self.progress = progress
        self.datasets = dict(datasets or {})
        self.train_preset = train_preset or (preset if preset in USER_SCALES else USER_SCALES[0])
        self.train_overrides = dict(train_overrides or {})
        self.runs_dir = Path(runs_dir) if runs_dir is not None else Path("runs") / "evaluate"
        self.source = source
        self._models: dict = {}

    # -- datasets ---------------------------------------------------------------------------------------------------
    def dataset(self, role: str) -> str:
        """The repo id of the dataset of ``role`` (``twobody``, ``twobody-train``, ``tribaker``), made if missing."""
        from qchaos.hub import local_repo_path

        if role in self.datasets:
            return self.datasets[role]
        if role not in DATASET_ROLES:
            raise ParameterError(f"role = {role!r}: must be one of {sorted(DATASET_ROLES)}")
        if self.preset not in DATASET_ROLES[role]:
            raise ParameterError(f"preset = {self.preset!r}: no dataset of role {role!r}; pass datasets={{{role!r}: "
                             "repo_id}}")
        system, gen_preset = DATASET_ROLES[role][self.preset]
        repo_id = ROLES[role].repo_id(self.preset)
        folder = local_repo_path(repo_id)
        if not (folder / "README.md").is_file():
            how = (f"qchaos generate {system} --preset {gen_preset} && qchaos publish {system} --preset {gen_preset}")
            if not self.build:
                raise MissingResourceError(
                    f"dataset {repo_id} is not in the local hub ({folder}); make it with `{how}` "
                    f"(or run `make evaluate PRESET={self.preset}`, which builds what is missing)")
            self._build_dataset(system, gen_preset, how)
        self.datasets[role] = repo_id
        return repo_id

    def _build_dataset(self, system: str, gen_preset: str, how: str) -> None:
        """Generate (or resume) the preset's store and publish it.

        The same calls as ``qchaos generate`` and ``qchaos publish`` (the build API, never the CLI).
        """
        from generation.build import build
        from generation.publish import publish

        print(f"building dataset {system}-{gen_preset}: {how}", flush=True)
        result = build(system, gen_preset, progress=self.progress)  # a failed point raises, naming it
        publish(system, result.store, preset=gen_preset, progress=self.progress)

    # -- models -----------------------------------------------------------------------------------------------------
    def _uses_shipped(self, kind: str, shipped: bool) -> bool:
        """Whether ``model(kind, shipped=shipped)`` is the registry's shipped paper checkpoint."""
        return self.preset == "paper" or (shipped and kind in SHIPPED_ROLES and "twobody-shipped" not in self.datasets
                                          and self.preset in DATASET_ROLES["twobody-shipped"])

    def model_role(self, kind: str, *, shipped: bool = False) -> str:
        """The dataset role ``model(kind, shipped=shipped)`` was trained on (its test split is the unseen data)."""
        if self._uses_shipped(kind, shipped) and kind in SHIPPED_ROLES:
            return SHIPPED_ROLES[kind]
        return MODEL_ROLES[kind]

    def model_repo_id(self, kind: str, *, shipped: bool = False) -> str:
        """The repo id of the reference checkpoint of ``kind`` for this preset (``shipped``: see :meth:`model`)."""
        from modeling.train import MODEL_KINDS, default_repo_id, settings_for

        if self._uses_shipped(kind, shipped):
            from qchaos.hub import DEFAULT_ORG
            from qchaos.registry import MODELS

            repo_id = f"{DEFAULT_ORG}/{kind}-{MODEL_KINDS[kind]}-paper"
            if repo_id in MODELS:
                return repo_id
        settings = settings_for(kind, self.train_preset, self.dataset(MODEL_ROLES[kind]))
        return default_repo_id(settings)

    def model(self, kind: str, *, shipped: bool = False):
        """The reference checkpoint of ``kind`` (``density-cnn``, ``density-cnn-adv``, ``quantum-net``), in eval mode.

        Loaded from the local hub when present and trained on the dataset now published under its name (same
        config hash); otherwise trained with seed 0 and saved there (``build``), or :class:`MissingResourceError`.
        ``shipped``: for an experiment that only evaluates a trained net, the shipped paper checkpoint (trained on
        the ``twobody-shipped`` role's dataset) at the ``mini`` preset too; at ``paper`` it is the reference anyway.
        """
        if kind not in MODEL_ROLES:
            raise ParameterError(f"kind = {kind!r}: must be one of {sorted(MODEL_ROLES)}")
        if self._uses_shipped(kind, shipped) and self.preset != "paper":
            key = f"{kind}@shipped"
            if key not in self._models:
                import modeling.density_cnn  # noqa: F401 - registers the checkpoint classes for from_pretrained
                from modeling.hub_model import HubModel

                self._models[key] = HubModel.from_pretrained(self.model_repo_id(kind, shipped=True)).eval()
            return self._models[key]
        if kind in self._models:
            return self._models[kind]
        import modeling.density_cnn  # noqa: F401 - registers the checkpoint classes for from_pretrained
        import modeling.quantum_net  # noqa: F401
        from modeling.hub_model import HubModel
        from qchaos.hub import local_repo_path
        from qchaos.registry import shipped_path

        repo_id = self.model_repo_id(kind)
        folder = local_repo_path(repo_id, "model")
        model = None
        if (folder / "qchaos.json").is_file() or shipped_path(repo_id) is not None:  # local hub, else shipped
            # a checkpoint this evaluation retrained under a registered name is its own (checked against its
            # qchaos.json); the shipped one must be the registry's
            model = HubModel.from_pretrained(repo_id, source="local",
                                             verify_registry=not (folder / "qchaos.json").is_file())
            stale = self._stale(model, kind)
            if stale:
                if not self.build:
                    raise MissingResourceError(f"checkpoint {repo_id}: {stale}; retrain it with "
                                               f"`{self._how(kind, repo_id)}`")
                print(f"checkpoint {repo_id}: {stale}; retraining", flush=True)
                model = None
        elif not self.build:
            raise MissingResourceError(f"checkpoint {repo_id} is not in the local hub ({folder}); train it with "
                                       f"`{self._how(kind, repo_id)}` (or run `make evaluate PRESET={self.preset}`)")
        if model is None:
            print(f"training {repo_id} (seed 0): {self._how(kind, repo_id)}", flush=True)
            model = self._train(kind, seed=0, save=True, repo_id=repo_id).model
        model.eval()
        self._models[kind] = model
        return model

    def _how(self, kind: str, repo_id: str) -> str:
        """The command that trains the reference checkpoint ``repo_id`` of ``kind``."""
        return (f"qchaos train {kind} --preset {self.train_preset} --dataset {self.dataset(MODEL_ROLES[kind])}"
                + (f" --repo-id {repo_id}" if self.preset == "paper" else ""))

    def _stale(self, model, kind: str) -> str:
        """Why a local checkpoint of ``kind`` does not belong to the current dataset ('' if it does)."""
        from modeling.data import dataset_info

        wanted = model.get_meta().get("training", {}).get("dataset_config_hash")
        if wanted is None:
            return ""
        try:
            have = dataset_info(self.dataset(self.model_role(kind))).get("config_hash")
        except Exception:  # noqa: BLE001 - a dataset we cannot read is not a reason to retrain
            return ""
        if have and have != wanted:
            return f"trained on dataset config {wanted[:8]}, the published one is {have[:8]} ({kind})"
        return ""

    # -- training ---------------------------------------------------------------------------------------------------
    def train(self, kind: str, *, seed: int = 0, **overrides):
        """A fresh training run of ``kind`` on its role's dataset; returns ``TrainResult``.

        Not saved, except that the run with seed 0 and no overrides *is* the reference checkpoint of
        :meth:`model`: when that is not in the local hub yet (and ``build`` is on), this run is saved as it, so the
        reference is never trained twice.
        """
        if seed == 0 and not overrides and self.build and not self._uses_shipped(kind, False):
            from qchaos.hub import local_repo_path

            repo_id = self.model_repo_id(kind)
            if not (local_repo_path(repo_id, "model") / "qchaos.json").is_file():
                return self._train(kind, seed=0, save=True, repo_id=repo_id)
        return self._train(kind, seed=seed, save=False, **overrides)

    def _train(self, kind: str, *, seed: int, save: bool, repo_id: str | None = None, **overrides):
        from modeling.systems import foreign_settings
        from modeling.train import MODEL_KINDS, default_repo_id, settings_for, train

        other = foreign_settings(MODEL_KINDS[kind])  # the shared overrides that apply to this model's system
        settings = {**{k: v for k, v in self.train_overrides.items() if k not in other}, **overrides}
        dataset = self.dataset(MODEL_ROLES[kind])
        wanted = settings_for(kind, self.train_preset, dataset, seed=seed, **settings)
        rid = repo_id or default_repo_id(wanted)
        tag = "-".join(f"{k}{_short(v)}" for k, v in sorted(overrides.items()))
        log = self.runs_dir / f"{rid.split('/')[-1]}{'-' + tag if tag and not save else ''}-seed{seed}.json"
        if not save:
            done = self._finished_run(log, wanted, dataset)
            if done is not None:
                return done
        result = train(kind, self.train_preset, dataset, seed=seed, save=save, repo_id=rid, log_path=log,
                       progress=self.progress, source=self.source, **settings)
        if not save:  # kept beside its log, so an interrupted evaluation resumes with the seeds it finished
            result.model.save_pretrained(_run_checkpoint(log))
        return result

    def _finished_run(self, log_path: Path, settings, dataset: str):
        """The ``TrainResult`` of a training run finished earlier with exactly these settings, else None.

        The run must be on the dataset as it is now published, its log and checkpoint beside it.
        """
        import json

        from modeling.data import dataset_info
        from modeling.hub_model import HubModel
        from modeling.train import TrainResult

        folder = _run_checkpoint(log_path)
        try:
            log = json.loads(log_path.read_text(encoding="utf-8"))
            same = (log.get("final") is not None and log.get("settings") == json.loads(json.dumps(settings.to_dict()))
                    and log.get("dataset_config_hash") == dataset_info(dataset).get("config_hash"))
            if not same or not (folder / "qchaos.json").is_file():
                return None
            model = HubModel.from_pretrained(folder, source="local")
        except (OSError, ValueError, LookupError):  # no, unreadable or damaged earlier run: train again
            return None
        if self.progress:
            print(f"reusing the finished training run {log_path.name} (delete it to retrain)", flush=True)
        return TrainResult(model=model, repo_id=log["repo_id"], settings=settings, metrics=log["final"], log=log,
                           log_path=log_path, best_epoch=int(log["best_epoch"]), history=log["epochs"])


def _run_checkpoint(log_path: Path) -> Path:
    """The checkpoint folder of an evaluation training run, beside its JSON log."""
    return log_path.with_name(log_path.stem + ".ckpt")


def _short(v) -> str:
    if isinstance(v, (tuple, list)):
        return "_".join(_short(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
