"""The evaluation framework: verdicts, report rendering, the runner (results.json, previous run, failures), the CLI."""

from __future__ import annotations

import json
import types

import pytest

from evaluation import core, runner
from evaluation.core import Context, to_jsonable
from evaluation.report import load_targets, render_report, verdict
from evaluation.resources import MissingResourceError, Resources


# -- verdicts and targets ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op,value,tol,x,expected", [
    (">=", 0.99, 0, 0.995, "met"), (">=", 0.99, 0, 0.98, "not met"), ("<=", 1e-4, 0, 2e-5, "met"),
    ("<", 0.0, 0, -0.1, "met"), ("<", 0.0, 0, 0.0, "not met"), (">", 0.0, 0, 0.2, "met"),
    ("==", 649, 0, 649, "met"), ("==", 649, 0, 648, "not met"), ("approx", 0.9878, 0.05, 0.95, "met"),
    ("approx", 0.9878, 0.05, 0.90, "not met"),
])
def test_verdict_ops(op, value, tol, x, expected):
    assert verdict(x, {"value": value, "op": op, "tolerance": tol}, "mini") == expected


def test_verdict_no_target_and_presets():
    assert verdict(0.5, None, "mini") == "no target"
    t = {"value": 649, "op": "==", "presets": ["paper"]}
    assert verdict(649, t, "mini") == "no target"
    assert verdict(649, t, "paper") == "met"
    assert verdict(None, {"value": 1, "op": ">="}, "mini") == "not met"
    with pytest.raises(ValueError, match="op"):
        verdict(1.0, {"value": 1, "op": "~"}, "mini")


def test_targets_file_is_well_formed():
    targets = load_targets()
    assert len(targets) >= 15
    for key, t in targets.items():
        assert {"value", "op", "source", "description"} <= set(t), key
        assert t["op"] in (">=", "<=", "<", ">", "==", "approx"), key
        assert t["source"].strip(), key
        if t["op"] == "approx":
            assert t["tolerance"] > 0, key
    assert targets["confidence_eta_1_3"]["value"] == pytest.approx(0.9878)


def test_to_jsonable_handles_numpy_torch_nan():
    import numpy as np
    import torch

    out = to_jsonable({"a": np.float32(0.5), "b": np.arange(3), "c": torch.tensor([1.0, float("nan")]),
                       "d": (np.int64(2), float("inf")), "e": np.bool_(True)})
    assert out == {"a": 0.5, "b": [0, 1, 2], "c": [1.0, None], "d": [2, None], "e": True}
    json.dumps(out)


# -- report rendering ------------------------------------------------------------------------------------------------
def _results(value, preset="mini"):
    return {"format": "qchaos-evaluate/1", "preset": preset, "meta": {"git_commit": "abc", "seconds": 3.0},
            "experiments": {"demo": {"title": "Demo experiment (Fig. 1)", "status": "ok", "seconds": 1.5,
                                     "metrics": {"cnn_test_accuracy": value,
                                                 "extra": {"value": 3.25, "description": "an extra number"}},
                                     "summary": "It worked.", "figures": [{"file": "demo.png", "caption": "A curve"}],
                                     "data": ["demo.json"]}}}


def test_render_report_shows_figures_targets_previous_and_verdicts():
    targets = load_targets()
    text = render_report(_results(0.995), targets, previous=_results(0.97))
    assert "![A curve](demo.png)" in text and "[`demo.json`](demo.json)" in text
    row = next(line for line in text.splitlines() if line.startswith("| `cnn_test_accuracy`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:5] == ["0.995", ">= 0.99", "met", "0.97"]
    assert "2402.16244" in cells[5]
    extra = next(line for line in text.splitlines() if line.startswith("| `extra` — an extra number"))
    assert extra.endswith("| 3.25 | — | no target | 3.25 |  |")  # measured, target, verdict, previous, source
    assert "1 met, 0 not met, 1 without a target" in text
    failing = render_report(_results(0.9), targets)
    assert "0 met, 1 not met" in failing
    row = next(line for line in failing.splitlines() if line.startswith("| `cnn_test_accuracy`"))
    assert "| **not met** (by 0.09) |" in row  # by how much
    head = failing[failing.index("## Headline"):failing.index("## Demo")]
    assert "| 0.9 | >= 0.99 | **not met** (by 0.09) |" in head and "extra" not in head  # only targeted metrics


@pytest.mark.parametrize("op,value,tol,x,gap", [
    (">=", 0.99, 0, 0.95, 0.04), (">", 0.0, 0, -0.2, 0.2), ("<=", 1e-4, 0, 3e-4, 2e-4), ("<", 0.0, 0, 0.5, 0.5),
    ("approx", 0.9878, 0.05, 0.8, 0.1378), ("==", 649, 0, 640, 9), (">=", 0.99, 0, 1.0, -0.01),
])
def test_shortfall_known_answers(op, value, tol, x, gap):
    from evaluation.report import shortfall

    assert shortfall(x, {"value": value, "op": op, "tolerance": tol}) == pytest.approx(gap)
    assert shortfall(None, {"value": value, "op": op}) is None and shortfall(x, None) is None


def test_render_report_shows_errors():
    res = _results(0.9)
    res["experiments"]["demo"].update(status="missing", error="dataset qchaos/x is not in the local hub", metrics={})
    text = render_report(res, load_targets())
    assert "status **missing**" in text and "dataset qchaos/x is not in the local hub" in text


# -- runner ----------------------------------------------------------------------------------------------------------
def _fake_module(name, value, fail=False):
    def run(ctx):
        if fail:
            raise RuntimeError("boom")
        from evaluation.plotting import subplots

        fig, ax = subplots()
        ax[0, 0].plot([0, 1], [0, ctx.params["y"]])
        ctx.save_figure(fig, caption="a line")
        ctx.save_data({"x": [0, 1], "y": [0, ctx.params["y"]]}, fmt="csv")
        return {"metrics": {"cnn_test_accuracy": value}, "summary": f"{name} ran with y = {ctx.params['y']}"}

    return types.SimpleNamespace(NAME=name, TITLE=f"{name} title", PARAMS={"tiny": {"y": 2}, "mini": {"y": 3}},
                                 run=run)


@pytest.fixture()
def fake_registry(monkeypatch):
    mods = {"alpha": _fake_module("alpha", 0.995), "beta": _fake_module("beta", 0.5, fail=True)}

    def get(name):
        key = str(name).replace("_", "-")
        if key not in mods:
            raise ValueError(f"experiment = {name!r}: unknown")
        return mods[key]

    monkeypatch.setattr(runner, "get_experiment", get)
    monkeypatch.setattr(runner, "experiment_names", lambda: list(mods))
    return mods


def test_runner_writes_results_report_and_keeps_previous(tmp_path, fake_registry):
    res = Resources("tiny", build=False, datasets={})
    doc = runner.evaluate("tiny", out=tmp_path, resources=res, progress=False)
    folder = tmp_path / "tiny"
    assert doc["failed"] == ["beta"]
    saved = json.loads((folder / "results.json").read_text())
    assert list(saved["experiments"]) == ["alpha", "beta"]
    alpha, beta = saved["experiments"]["alpha"], saved["experiments"]["beta"]
    assert alpha["status"] == "ok" and alpha["metrics"] == {"cnn_test_accuracy": 0.995}
    assert alpha["figures"] == [{"file": "alpha.png", "caption": "a line"}] and alpha["data"] == ["alpha.csv"]
    assert (folder / "alpha.png").stat().st_size > 1000
    assert (folder / "alpha.csv").read_text().splitlines() == ["x,y", "0,0", "1,2"]
    assert beta["status"] == "failed" and "RuntimeError: boom" in beta["error"]
    assert set(alpha["run"]) == {"git_commit", "version", "finished"}  # per entry: a merged report mixes runs
    text = (folder / "report.md").read_text()
    assert f"(git {str(alpha['run']['git_commit'])[:10]}, finished {alpha['run']['finished']})" in text
    assert "![a line](alpha.png)" in text and "RuntimeError: boom" in text

    # a second run of one experiment with other params keeps the other entry and shows the previous value
    doc2 = runner.evaluate("tiny", ["alpha"], out=tmp_path, resources=res, progress=False,
                           params={"alpha": {"y": 5}})
    assert doc2["failed"] == []
    saved2 = json.loads((folder / "results.json").read_text())
    assert list(saved2["experiments"]) == ["alpha", "beta"]
    assert saved2["experiments"]["alpha"]["params"] == {"y": 5}
    assert json.loads((folder / "results.previous.json").read_text())["experiments"]["alpha"]["params"] == {"y": 2}
    assert "alpha ran with y = 5" in (folder / "report.md").read_text()


def test_two_runs_into_one_folder_keep_each_others_experiments(tmp_path, fake_registry, monkeypatch):
    """A run that started before another run finished an experiment does not drop it when it writes (the results
    are merged into the file on disk, not overwritten with the document read at the start)."""
    res = Resources("tiny", build=False, datasets={})
    run_alpha = fake_registry["alpha"].run

    def alpha_while_beta_finishes(ctx):  # a second run finishes beta while alpha is running
        monkeypatch.setattr(fake_registry["beta"], "run", lambda c: {"metrics": {"x": 1.0}, "summary": "beta ok"})
        runner.evaluate("tiny", ["beta"], out=tmp_path, resources=res, progress=False)
        return run_alpha(ctx)

    monkeypatch.setattr(fake_registry["alpha"], "run", alpha_while_beta_finishes)
    runner.evaluate("tiny", ["alpha"], out=tmp_path, resources=res, progress=False)
    saved = json.loads((tmp_path / "tiny" / "results.json").read_text())
    assert {k: v["status"] for k, v in saved["experiments"].items()} == {"alpha": "ok", "beta": "ok"}
    assert "beta ok" in (tmp_path / "tiny" / "report.md").read_text()
    assert not list((tmp_path / "tiny").glob(".*.lock"))  # the merge lock is gone once the runs end


def test_runner_resume_keeps_finished_experiments(tmp_path, fake_registry, monkeypatch):
    res = Resources("tiny", build=False, datasets={})
    runner.evaluate("tiny", out=tmp_path, resources=res, progress=False)  # alpha ok, beta failed
    calls = []
    for mod in fake_registry.values():
        run = mod.run
        monkeypatch.setattr(mod, "run", lambda ctx, run=run: calls.append(ctx.name) or run(ctx))
    doc = runner.evaluate("tiny", out=tmp_path, resources=res, progress=False, resume=True)
    assert calls == ["beta"]  # alpha finished with the same params: kept, not run again; beta failed: run again
    assert doc["experiments"]["alpha"]["status"] == "ok"
    runner.evaluate("tiny", out=tmp_path, resources=res, progress=False, resume=True, params={"alpha": {"y": 7}})
    assert calls == ["beta", "alpha", "beta"]  # other params: run again


def test_interrupted_experiment_counts_every_sitting(tmp_path, fake_registry, monkeypatch):
    """A paper run spread over sittings: an experiment interrupted half-way keeps the seconds it spent, and the
    sitting that finishes it reports the sum (40 s + 25 s on a fake clock), not only its own part."""
    clock = [0.0]
    monkeypatch.setattr(runner, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    res = Resources("tiny", build=False, datasets={})
    run_alpha = fake_registry["alpha"].run

    def interrupted(ctx):
        clock[0] += 40.0
        raise KeyboardInterrupt

    def finishes(ctx):
        clock[0] += 25.0
        return run_alpha(ctx)

    monkeypatch.setattr(fake_registry["alpha"], "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.evaluate("tiny", out=tmp_path, resources=res, progress=False, resume=True)
    folder = tmp_path / "tiny"
    assert json.loads((folder / "runs" / "interrupted.json").read_text()) == {
        "alpha": {"seconds": 40.0, "sittings": 1, "params": {"y": 2}}}
    monkeypatch.setattr(fake_registry["alpha"], "run", finishes)
    doc = runner.evaluate("tiny", out=tmp_path, resources=res, progress=False, resume=True)
    alpha = doc["experiments"]["alpha"]
    assert (alpha["status"], alpha["seconds"], alpha["sittings"]) == ("ok", 65.0, 2)
    assert json.loads((folder / "runs" / "interrupted.json").read_text()) == {}
    assert "Interrupted and resumed: alpha (2 sittings)" in (folder / "report.md").read_text()

    # compute spent with other parameters is not added to this job's
    monkeypatch.setattr(fake_registry["alpha"], "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.evaluate("tiny", ["alpha"], out=tmp_path, resources=res, progress=False)
    monkeypatch.setattr(fake_registry["alpha"], "run", finishes)
    doc = runner.evaluate("tiny", ["alpha"], out=tmp_path, resources=res, progress=False, params={"alpha": {"y": 5}})
    assert (doc["experiments"]["alpha"]["seconds"], doc["experiments"]["alpha"]["sittings"]) == (25.0, 1)


def test_cli_evaluate_killed_with_sigterm_records_the_interrupted_experiment(tmp_path, fake_registry, monkeypatch,
                                                                             capsys):
    """`kill` (SIGTERM) stops `qchaos evaluate` like Ctrl-C: exit 130, the running experiment's seconds kept."""
    import signal

    from qchaos.cli import main

    def killed(ctx):
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the experiment")

    monkeypatch.setattr(fake_registry["alpha"], "run", killed)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["evaluate", "--no-build", "--quiet", "--out", str(tmp_path)]) == 130
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the CLI's only while it evaluates
    assert "interrupted" in capsys.readouterr().err
    record = json.loads((tmp_path / "mini" / "runs" / "interrupted.json").read_text())
    assert set(record) == {"alpha"} and record["alpha"]["sittings"] == 1 and record["alpha"]["params"] == {"y": 3}


def test_runner_rejects_bad_names_and_presets(tmp_path):
    with pytest.raises(ValueError, match="preset"):
        runner.evaluate("huge", out=tmp_path)
    with pytest.raises(ValueError, match="known experiments"):
        runner.evaluate("tiny", ["nope"], out=tmp_path, resources=Resources("tiny", datasets={}))


def test_every_registered_experiment_follows_the_protocol():
    names = core.experiment_names()
    assert len(names) == len(core.EXPERIMENT_MODULES) == 9 and len(set(names)) == 9
    for name in names:
        mod = core.get_experiment(name)
        assert callable(mod.run) and mod.TITLE and mod.__doc__, name
        assert core.get_experiment(name.replace("-", "_")) is mod


def test_context_save_data_rejects_unknown_format(tmp_path):
    ctx = Context(name="x", preset="tiny", params={}, out=tmp_path, resources=None, progress=False)
    with pytest.raises(ValueError, match="fmt"):
        ctx.save_data({}, fmt="xml")


# -- resources: clear messages -----------------------------------------------------------------------------------------
def test_missing_dataset_and_checkpoint_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "emptyhub"))
    res = Resources("mini", build=False)
    with pytest.raises(MissingResourceError, match=r"qchaos generate twobody --preset mini && qchaos publish"):
        res.dataset("twobody")
    with pytest.raises(MissingResourceError, match=r"qchaos generate tribaker --preset paper"):
        Resources("paper", build=False).dataset("tribaker")
    res2 = Resources("mini", build=False, datasets={"tribaker": "qchaos/tribaker-mini"})
    with pytest.raises(MissingResourceError, match=r"checkpoint qchaos/quantum-net-tribaker-mini .*qchaos train "
                                                   r"quantum-net --preset mini"):
        res2.model("quantum-net")
    with pytest.raises(ValueError, match="role"):
        res.dataset("nope")
    with pytest.raises(ValueError, match="kind"):
        res.model("resnet")


def test_paper_models_are_the_registry_ones():
    res = Resources("paper", build=False, datasets={"twobody-train": "qchaos/twobody-paper-cnn",
                                                    "tribaker": "qchaos/tribaker-paper"})
    assert res.model_repo_id("density-cnn") == "qchaos/density-cnn-twobody-paper"
    assert res.model_repo_id("density-cnn-adv") == "qchaos/density-cnn-adv-twobody-paper"
    assert res.model_repo_id("quantum-net") == "qchaos/quantum-net-tribaker-paper"


def test_cli_evaluate_list_and_missing(tmp_path, monkeypatch, capsys):
    from qchaos.cli import main

    assert main(["evaluate", "--list"]) == 0
    out = capsys.readouterr().out
    assert "ed-accuracy" in out and "localization-vs-n" in out
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "emptyhub"))
    rc = main(["evaluate", "galleries", "--no-build", "--quiet", "--out", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert rc == 1 and "galleries" in err
    saved = json.loads((tmp_path / "reports" / "mini" / "results.json").read_text())
    assert saved["experiments"]["galleries"]["status"] == "missing"
    assert "qchaos generate tribaker --preset mini" in saved["experiments"]["galleries"]["error"]


def test_finished_training_runs_are_reused(eval_resources, monkeypatch):
    """An interrupted evaluation resumes with the seeds it finished: the same run is loaded, not trained again."""
    import torch

    import modeling.train

    first = eval_resources.train("density-cnn", seed=1, epochs=1)
    assert first.log_path.is_file() and (first.log_path.parent / (first.log_path.stem + ".ckpt")).is_dir()
    with monkeypatch.context() as m:
        m.setattr(modeling.train, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
        again = eval_resources.train("density-cnn", seed=1, epochs=1)
    assert again.log["steps"] == first.log["steps"] and again.best_epoch == first.best_epoch
    for (k, a), (_, b) in zip(first.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), k
    # another setting is another run; a damaged checkpoint is retrained, not trusted
    other = eval_resources.train("density-cnn", seed=2, epochs=1)
    assert other.log_path != first.log_path
    (first.log_path.parent / (first.log_path.stem + ".ckpt") / "model.safetensors").write_bytes(b"broken")
    retrained = eval_resources.train("density-cnn", seed=1, epochs=1)
    assert retrained.log["steps"] == first.log["steps"]  # same seed, same data: identical metrics


# -- declared metrics ---------------------------------------------------------------------------------------------
def test_metric_families_match_their_instances_only():
    m = core.Metric("ed_bethe_max_rel_error_g{g}", "x")
    assert m.matches("ed_bethe_max_rel_error_g10") and m.matches("ed_bethe_max_rel_error_g0.5")
    assert not m.matches("ed_bethe_max_rel_error") and not m.matches("ed_bethe_max_rel_error_g")
    assert not m.matches("xed_bethe_max_rel_error_g10")
    fine = core.Metric("omega_fine_eta_{eta}_{levels}_levels", "x")
    assert fine.matches("omega_fine_eta_1_3_5000_levels") and not fine.matches("omega_fine_eta_1_3")
    assert core.undeclared_metrics([m, core.Metric("omega_eta_1", "y")], ["omega_eta_1", "omega_eta_2",
                                                                          "ed_bethe_max_rel_error_g1"]) == ["omega_eta_2"]


def test_every_target_names_a_declared_metric():
    """A target whose metric was renamed would read "no target" in every report: each key of targets.json must be
    declared by exactly one experiment, and every experiment declares its metrics with a description."""
    declared = {name: core.get_experiment(name).METRICS for name in core.experiment_names()}
    for name, metrics in declared.items():
        assert metrics and all(m.description for m in metrics), name
        assert len({m.name for m in metrics}) == len(metrics), name
    for key in load_targets():
        owners = [name for name, metrics in declared.items() if core.declared_metric(metrics, key)]
        assert len(owners) == 1, f"target {key!r} is declared by {owners or 'no experiment'}"


def test_runner_flags_undeclared_metrics(tmp_path, monkeypatch):
    module = types.SimpleNamespace(NAME="alpha", TITLE="t", PARAMS={"tiny": {}},
                                   METRICS=(core.Metric("kept", "a declared metric"),),
                                   run=lambda ctx: {"metrics": {"kept": 1.0, "renamed": 2.0}, "summary": ""})
    monkeypatch.setattr(runner, "experiment_names", lambda: ["alpha"])
    monkeypatch.setattr(runner, "get_experiment", lambda name: module)
    doc = runner.evaluate("tiny", out=tmp_path, resources=Resources("tiny", datasets={}), progress=False)
    assert doc["experiments"]["alpha"]["undeclared_metrics"] == ["renamed"]


# -- missing resources: one test for every experiment that needs data -----------------------------------------------
@pytest.mark.parametrize("name, repo, command", [
    ("level-statistics", "qchaos/twobody-mini", "qchaos generate twobody --preset mini"),
    ("cnn-training", "qchaos/twobody-mini-images", "qchaos generate twobody --preset mini-images"),
    ("confidence", "qchaos/twobody-mini-images", "qchaos generate twobody --preset mini-images"),
    ("robustness", "qchaos/twobody-paper-cnn", "qchaos generate twobody --preset paper-cnn"),
    ("tribaker-subsets", "qchaos/tribaker-mini", "qchaos generate tribaker --preset mini"),
    ("galleries", "qchaos/tribaker-mini", "qchaos generate tribaker --preset mini"),
    ("localization-vs-n", "qchaos/tribaker-mini", "qchaos generate tribaker --preset mini"),
])
def test_missing_dataset_is_reported_with_the_command_that_makes_it(name, repo, command, tmp_path, monkeypatch):
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "empty-hub"))
    res = Resources("mini", build=False, progress=False, source="local", runs_dir=tmp_path / "runs")
    entry = runner.evaluate("mini", [name], out=tmp_path, resources=res, progress=False)["experiments"][name]
    assert entry["status"] == "missing"
    assert repo in entry["error"] and command in entry["error"]
    assert not (tmp_path / "empty-hub").exists()  # nothing built


def test_report_assembled_over_several_commits_says_so():
    """A resumed paper run spread over sittings: the header names every commit and the experiments' total."""
    one = render_report(_results(0.99), load_targets())
    assert "come from runs at" not in one  # one sitting: the run's own header only
    res = _results(0.99)
    res["experiments"]["later"] = {**res["experiments"]["demo"], "title": "Later (Fig. 2)", "seconds": 2.5,
                                   "run": {"git_commit": "def4567890ff", "finished": "2026-12-05 10:48 UTC"}}
    text = render_report(res, load_targets())
    assert "The experiments come from runs at 2 commits (abc, def4567890); each section names its own. " \
           "Sum of the experiments' seconds: 4 s." in text
