"""Quantum machine learning on qfab, built around barren plateaus.

Diagnose before training (:mod:`qfab.qml.trainability`, ``qfab plateau``), pick a remedy
(:mod:`qfab.qml.init`, local costs in :mod:`qfab.qml.costs`), then train
(:class:`QuantumClassifier`, :class:`QuantumRegressor`, or the PyTorch layer in
:mod:`qfab.qml.torch_layer`, which imports torch only when used). Before a long training,
:func:`recommend` (:mod:`qfab.qml.recommender`, ``qfab recommend``) races candidate set-ups briefly on
the data, with the indicators of :mod:`qfab.qml.indicators`, and forecasts the winner's accuracy.
"""
from qfab.qml import ansatz, costs, encoding, init, lie, trainability
from qfab.qml.recommender import Recommendation, recommend

__all__ = ["ansatz", "costs", "encoding", "init", "lie", "trainability", "recommend", "Recommendation",
           "QuantumClassifier", "QuantumRegressor"]


def __getattr__(name):
    # The estimators pull in scikit-learn; load them on first use.
    if name in ("QuantumClassifier", "QuantumRegressor"):
        from qfab.qml import models

        return getattr(models, name)
    raise AttributeError(f"module 'qfab.qml' has no attribute {name!r}")
