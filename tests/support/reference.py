"""The independent references gradients are checked against: Qiskit's ``Statevector`` of the
bound circuit, and central finite differences of it."""
import numpy as np
from qiskit.quantum_info import Statevector


def exact_expectation(qc, obs, values) -> float:
    """<obs> of ``qc`` bound to ``values`` (in ``qc.parameters`` order), by Qiskit."""
    return Statevector(qc.assign_parameters(dict(zip(qc.parameters, values)))).expectation_value(obs).real


def finite_difference(qc, obs, values, eps=1e-5) -> np.ndarray:
    """d<obs>/d values by central differences of :func:`exact_expectation`."""
    values = np.asarray(values, dtype=float)
    steps = np.eye(len(values)) * eps
    return np.array([(exact_expectation(qc, obs, values + s) - exact_expectation(qc, obs, values - s)) / (2 * eps)
                     for s in steps])
