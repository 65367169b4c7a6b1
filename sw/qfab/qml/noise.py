"""Noise-induced barren plateaus (Wang et al. 2021): the same gradient diagnosis under gate noise.

qfab's engines simulate pure states; this module runs a circuit's qfab IR on a density matrix
(numpy, so for the small n where the effect is studied) with a two-qubit depolarizing channel of
probability ``two_qubit_error`` after every two-qubit gate (and optionally a one-qubit one after every
one-qubit gate), and differentiates by qfab's parameter-shift rule (:mod:`qfab.core.shift`), which
stays exact under noise that does not depend on the angles. Comparing with the noiseless gradient of
the same samples shows the deterministic suppression ``noisy/ideal ~ exp(-rate * N_2q)`` that no
initialisation escapes. The error rates can be taken from a backend's calibration (e.g. a fake
backend's median two-qubit error) when one is at hand.

:func:`fake_backend_noise_scan` runs the same diagnosis under a real device's full noise model: the
circuit is transpiled onto a Qiskit fake backend (IBM's native gates, its coupling map, no
optimisation, so mirrored identity blocks are not cancelled away) and run by qiskit-aer's
density-matrix simulator with the backend's calibrated gate errors and relaxation; the noiseless
gradients of the same samples come from qfab.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qfab import api
from qfab.core.ir import Circuit
from qfab.core.shift import shift_parameters
from qfab.qml.ansatz import Ansatz, build_ansatz, with_identity_blocks
from qfab.qml.costs import Cost, build_cost
from qfab.qml.init import build_initializer

__all__ = ["density_matrix_expectation", "depolarize", "noisy_gradient", "NoisePoint", "noise_scan", "fake_backend_noise_scan",
           "fit_noise_rate", "fit_noise_rate_per_layer"]


def _apply(rho: np.ndarray, matrix: np.ndarray, qubits: tuple[int, ...], n: int) -> np.ndarray:
    """rho -> U rho U^dagger for ``matrix`` on ``qubits`` (qubits[0] least significant)."""
    k = len(qubits)
    tensor = rho.reshape((2,) * (2 * n))
    rows = [n - 1 - q for q in reversed(qubits)]  # tensor axes of the gate's qubits, most significant first
    cols = [n + a for a in rows]
    gate = matrix.reshape((2,) * (2 * k))
    tensor = np.tensordot(gate, tensor, axes=(list(range(k, 2 * k)), rows))
    tensor = np.moveaxis(tensor, list(range(k)), rows)
    tensor = np.tensordot(gate.conj(), tensor, axes=(list(range(k, 2 * k)), cols))
    tensor = np.moveaxis(tensor, list(range(k)), cols)
    return tensor.reshape(rho.shape)


def depolarize(rho: np.ndarray, qubits: tuple[int, ...], probability: float, n: int) -> np.ndarray:
    """The depolarising channel on ``qubits`` of an ``n``-qubit density matrix:
    (1 - p) rho + p Tr_qubits(rho) (x) I / 2^k."""
    if probability == 0:
        return rho
    tensor = rho.reshape((2,) * (2 * n))
    rows = [n - 1 - q for q in qubits]
    cols = [n + a for a in rows]
    reduced = np.trace(tensor, axis1=rows[0], axis2=cols[0])
    remaining_rows, remaining_cols = [a for a in range(n) if a not in rows], [a for a in range(n, 2 * n) if a not in cols]
    if len(qubits) == 2:
        order = [a for a in range(2 * n) if a not in (rows[0], cols[0])]
        reduced = np.trace(reduced, axis1=order.index(rows[1]), axis2=order.index(cols[1]))
    identity = np.eye(2 ** len(qubits)).reshape((2,) * (2 * len(qubits))) / 2 ** len(qubits)
    mixed = np.tensordot(reduced, identity, axes=0)  # axes: remaining rows, remaining cols, gate rows, gate cols
    current = remaining_rows + remaining_cols + rows + cols
    mixed = np.moveaxis(mixed, list(range(2 * n)), current)
    return ((1 - probability) * tensor + probability * mixed).reshape(rho.shape)


def density_matrix_expectation(circuit: Circuit, observable_matrix: np.ndarray, params: np.ndarray,
                               two_qubit_error: float, one_qubit_error: float = 0.0) -> float:
    n = circuit.num_qubits
    rho = np.zeros((2**n, 2**n), complex)
    rho[0, 0] = 1
    for op in circuit.operations:
        rho = _apply(rho, op.unitary(params), op.qubits, n)
        error = two_qubit_error if len(op.qubits) == 2 else one_qubit_error if len(op.qubits) == 1 else 0.0
        rho = depolarize(rho, op.qubits, error, n)
    return float(np.real(np.trace(rho @ observable_matrix)))


def noisy_gradient(circuit: Circuit, observable_matrix: np.ndarray, params: np.ndarray, index: int,
                   two_qubit_error: float, one_qubit_error: float = 0.0) -> float:
    """d<O>/d params[index] by the shift rule of the one rotation the parameter drives
    (:func:`qfab.core.shift.shift_parameters`)."""
    shifts = shift_parameters(circuit, params, [index])
    values = [density_matrix_expectation(circuit, observable_matrix, row[0], two_qubit_error, one_qubit_error)
              for row in shifts.rows]
    return float(shifts.gradients(np.array(values)[:, None])[0, 0])


@dataclass
class NoisePoint:
    layers: int
    two_qubit_gates: int
    ideal_mean_abs: float
    noisy_mean_abs: float
    ideal_variance: float | None = None
    noisy_variance: float | None = None

    @property
    def ratio(self) -> float:
        return self.noisy_mean_abs / self.ideal_mean_abs


def _samples(ansatz_name: str, cost_name: str, num_qubits: int, L: int, samples: int, init: str, parameter: int, rng):
    """The ansatz (identity blocks of ``L`` layers in all, or plain), its cost, the samples' circuit
    parameters, each sample's circuit column of ``parameter`` and the noiseless gradients (qfab)."""
    if init == "identity_blocks":
        ansatz: Ansatz = with_identity_blocks(build_ansatz(ansatz_name, num_qubits, max(1, L // 2)))
    else:
        ansatz = build_ansatz(ansatz_name, num_qubits, L)
    cost: Cost = build_cost(cost_name, num_qubits)
    theta = build_initializer(init)(ansatz, samples, rng)
    structure = ansatz.sample_structure(rng, samples)
    params = ansatz.circuit_parameters(theta, structure)
    ideal = ansatz.trainable_gradient(api.gradient(ansatz.circuit, cost.observable, params), structure)[:, parameter]
    column = ansatz.active_columns(samples, structure)[:, parameter]
    return ansatz, cost, params, column, ideal


def _point(L: int, two_qubit_gates: int, ideal: np.ndarray, noisy: np.ndarray) -> NoisePoint:
    return NoisePoint(L, int(two_qubit_gates), float(np.mean(np.abs(ideal))), float(np.mean(np.abs(noisy))),
                      float(np.var(ideal, ddof=1)) if len(ideal) > 1 else None,
                      float(np.var(noisy, ddof=1)) if len(noisy) > 1 else None)


def noise_scan(ansatz_name: str, cost_name: str, num_qubits: int, layers: list[int], samples: int,
               two_qubit_error: float, one_qubit_error: float = 0.0, init: str = "identity_blocks",
               parameter: int = 0, seed: int = 0) -> list[NoisePoint]:
    """Mean |dC/dtheta| of one parameter, noiseless (qfab adjoint) and noisy (density matrix), per depth.
    Identity blocks by default, so that the noiseless gradient does not shrink with depth and any
    decay is the noise's."""
    rng = np.random.default_rng(seed)
    points = []
    for L in layers:
        ansatz, cost, params, column, ideal = _samples(ansatz_name, cost_name, num_qubits, L, samples, init, parameter, rng)
        matrix = cost.observable.to_matrix()
        noisy = np.array([noisy_gradient(ansatz.circuit, matrix, params[b], int(column[b]), two_qubit_error, one_qubit_error)
                          for b in range(samples)])
        two_qubit_gates = sum(len(op.qubits) == 2 for op in ansatz.circuit.operations)
        points.append(_point(L, two_qubit_gates, ideal, noisy))
    return points


def fake_backend(name: str = "FakeManilaV2"):
    """A Qiskit fake backend by class name (``FakeManilaV2``, ``FakeLimaV2``...), with a clear message
    when the optional packages are missing."""
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError as err:
        raise ImportError("the fake-backend noise diagnosis needs qiskit-ibm-runtime and qiskit-aer "
                          "(pip install -e 'sw[dev]' or pip install qiskit-ibm-runtime qiskit-aer)") from err
    if not hasattr(fake_provider, name):
        raise ValueError(f"qiskit_ibm_runtime.fake_provider has no backend {name!r}")
    return getattr(fake_provider, name)()


def fake_backend_noise_scan(ansatz_name: str = "hea", cost_name: str = "local_pauli", num_qubits: int = 3,
                            layers: tuple[int, ...] = (2, 4, 8, 16), samples: int = 20, backend="FakeManilaV2",
                            init: str = "uniform", parameter: int = 0, seed: int = 0, noise: bool = True) -> list[NoisePoint]:
    """Mean |dC/dtheta| and its variance per depth: noiseless (qfab) and on ``backend``'s noise model
    (qiskit-aer, density matrix, parameter shift on the transpiled circuit, one Aer run of all shifted
    parameter sets per depth). ``two_qubit_gates`` counts the transpiled circuit's native two-qubit
    gates. ``noise=False`` runs the same transpiled circuits without noise (a check that the noisy
    path computes the same gradients as qfab). Random-axis ansätze are refused: their two
    zero-angle rotations per site would become real, noisy pulses on the device. Uniform
    initialisation by default, since a hardware-efficient circuit of identity blocks on |0...0>
    has exactly zero gradient for Z costs."""
    try:
        from qiskit import transpile
        from qiskit_aer import AerSimulator
    except ImportError as err:
        raise ImportError("the fake-backend noise diagnosis needs qiskit-aer (pip install qiskit-aer, "
                          "or the dev extra)") from err
    device = fake_backend(backend) if isinstance(backend, str) else backend
    simulator = AerSimulator.from_backend(device, method="density_matrix") if noise else AerSimulator(method="density_matrix")
    rng = np.random.default_rng(seed)
    points = []
    for L in layers:
        ansatz, cost, params, column, ideal = _samples(ansatz_name, cost_name, num_qubits, L, samples, init, parameter, rng)
        if ansatz.random_axes:
            raise ValueError(f"ansatz {ansatz.name!r} draws random axes; use a fixed-gate ansatz (e.g. 'hea') on a backend")
        compiled = transpile(ansatz.qiskit_circuit, device, initial_layout=list(range(num_qubits)),
                             optimization_level=0, seed_transpiler=seed)
        compiled.save_expectation_value(cost.observable, list(range(num_qubits)))
        shifts = shift_parameters(ansatz.circuit, params, column[:, None])
        rows = shifts.rows.reshape(-1, ansatz.circuit.num_parameters)
        index = {name: i for i, name in enumerate(ansatz.circuit.parameters)}
        binds = [{p: rows[:, index[p.name]].tolist() for p in compiled.parameters}]
        result = simulator.run([compiled], parameter_binds=binds).result()
        values = np.array([float(np.real(r.data.expectation_value)) for r in result.results])
        noisy = shifts.gradients(values.reshape(shifts.rows.shape[:2]))[:, 0]
        two_qubit_gates = sum(1 for instruction in compiled.data if instruction.operation.num_qubits == 2)
        points.append(_point(L, two_qubit_gates, ideal, noisy))
    return points


def fit_noise_rate(points: list[NoisePoint]) -> float:
    """``rate`` in noisy/ideal ~ exp(-rate * N_2q), least squares through the origin in log space."""
    gates = np.array([p.two_qubit_gates for p in points], dtype=float)
    logs = np.log([p.ratio for p in points])
    return float(-np.sum(gates * logs) / np.sum(gates * gates))


def fit_noise_rate_per_layer(points: list[NoisePoint]) -> float:
    """``rate`` in noisy/ideal ~ exp(-rate * L): the same fit against the number of layers."""
    layers = np.array([p.layers for p in points], dtype=float)
    logs = np.log([p.ratio for p in points])
    return float(-np.sum(layers * logs) / np.sum(layers * layers))
