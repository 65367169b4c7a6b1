"""Quantum machine learning on qfab, built around barren plateaus.

Diagnose before training (:mod:`qfab.qml.trainability`, ``qfab plateau``), pick a remedy
(:mod:`qfab.qml.init`, local costs in :mod:`qfab.qml.costs`), then train
(:class:`QuantumClassifier`, :class:`QuantumRegressor`, or the PyTorch layer in
:mod:`qfab.qml.torch_layer`, which imports torch only when used).
"""
from qfab.qml import ansatz, costs, encoding, init, lie, trainability

__all__ = ["ansatz", "costs", "encoding", "init", "lie", "trainability", "QuantumClassifier", "QuantumRegressor"]


def __getattr__(name):
    # The estimators pull in scikit-learn; load them on first use.
    if name in ("QuantumClassifier", "QuantumRegressor"):
        from qfab.qml import models

        return getattr(models, name)
    raise AttributeError(f"module 'qfab.qml' has no attribute {name!r}")
