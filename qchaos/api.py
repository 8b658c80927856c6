"""The Python API of qchaos-hub: one public function per job, the same functions the CLI calls.

=================  =====================================  ==========================================
job                function                               CLI
=================  =====================================  ==========================================
build a store      :func:`generation.build.build`         ``qchaos generate SYSTEM --preset P``
publish it         :func:`generation.publish.publish`     ``qchaos publish SYSTEM --preset P``
load a dataset     :func:`qchaos.hub.load`                (``datasets.load_dataset`` on the folder)
train a model      :func:`modeling.train.train`           ``qchaos train MODEL --dataset ID``
evaluate           :func:`evaluation.runner.evaluate`     ``qchaos evaluate [NAME ...] --preset P``
verify             :func:`generation.verify.verify`       ``qchaos verify STORE|REPO|MODEL``
=================  =====================================  ==========================================

This module sits at the top of the layers (it imports the experiments); the layers below import one another only
downwards: ``qchaos`` core (``errors``, ``atomic``, ``hub``, ``registry``) <- ``generation`` <- ``modeling`` <-
``evaluation`` <- ``qchaos.api`` / ``qchaos.cli``. Nothing below imports this module or the CLI.
"""

from __future__ import annotations

from evaluation.runner import evaluate
from generation.build import build
from generation.publish import publish
from generation.verify import verify
from modeling.train import train
from qchaos.hub import load

__all__ = ["build", "publish", "load", "train", "evaluate", "verify"]
