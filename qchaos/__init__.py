"""qchaos-hub: exact quantum-chaos data, Hugging Face datasets and classifiers.

The CLI (``qchaos``) and the small shared pieces live here; the physics is in ``generation``, the models in
``modeling`` and the experiments in ``evaluation``.
"""

from importlib import metadata

try:
    __version__ = metadata.version("qchaos-hub")
except metadata.PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0"
