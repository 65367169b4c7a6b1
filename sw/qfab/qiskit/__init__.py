"""qfab inside Qiskit: ``EstimatorV2`` and ``SamplerV2`` primitives and a ``BackendV2``.

>>> from qfab.qiskit import EstimatorV2   # instead of qiskit.primitives.StatevectorEstimator
>>> EstimatorV2().run([(circuit, observable, parameter_values)]).result()[0].data.evs
"""
from qfab.qiskit.backend import QfabBackend
from qfab.qiskit.estimator import EstimatorV2
from qfab.qiskit.sampler import SamplerV2

__all__ = ["EstimatorV2", "SamplerV2", "QfabBackend", "QfabEstimatorGradient", "QfabSamplerGradient"]


def __getattr__(name):
    # The gradient subclasses qiskit-machine-learning's base class: imported only when asked
    # for, so that qfab.qiskit works without that optional package.
    if name in ("QfabEstimatorGradient", "QfabSamplerGradient"):
        from qfab.qiskit import gradient

        return getattr(gradient, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
