"""Card templates (package data) of the dataset and model repos.

``twobody_dataset.md``, ``tribaker_dataset.md`` (``generation.publish``) and ``model_card.md``
(``modeling.hub_model``), read with :func:`qchaos.hub.card_template` / ``package_file``.
"""
