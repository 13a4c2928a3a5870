"""sentinel's classifiers: a pure library, text in and frozen dataclasses out.

Nothing here imports Flask, SQLAlchemy, Redis or ``sentinel``; importing this package
loads no model. Models are read from a versioned bundle the first time
:func:`classifiers.pipeline.get_pipeline` is called, once per process.

Main entry points::

    from classifiers.pipeline import get_pipeline
    preds = get_pipeline("instance/models").predict(["请问社保卡在哪里补办？"])

    from classifiers.training import train_all           # sentinel train
    from classifiers.neardup import NearDuplicateIndex    # ingest duplicate check
    from classifiers.text import normalise                # ingest normalisation
"""

__all__ = ["LIBRARY_VERSION"]

#: Version of the feature extraction and bundle layout; part of every model version string.
LIBRARY_VERSION = "1"
