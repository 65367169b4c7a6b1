"""Figures for the closing note of issue 6: hardware-aware mapping and shot-based gradients.

1. Estimated success probability (ESP) of 8- and 16-qubit hardware-efficient circuits on fake IBM
   backends (real calibration snapshots): the generic circuit (McClean layers: RY·RZ on every
   qubit, CZ chain, 4 layers) mapped with the trivial layout and with qfab's noise-aware layout,
   and qfab's hardware ansatz (native gates on a good connected subgraph) with as many layers.
2. Deviation of the parameter-shift gradient with shots from the exact gradient, on a fake
   backend (noise: the deviation stops falling at the noise bias) and on a noiseless one.

    .venv/bin/python benchmarks/hardware_mapping.py [--write docs/qiskit.md]

``--write`` replaces the text between the hardware_mapping markers of that file.
"""
from __future__ import annotations

import argparse
import re
import time
import warnings

import numpy as np
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import SparsePauliOp
from qiskit_ibm_runtime import fake_provider

import qfab
from qfab.backends import QPU, Job
from qfab.qml.hardware import hardware_efficient_ansatz, logical_ansatz, map_circuit
from qfab.core.observables import PauliSum

BACKENDS = ("FakePrague", "FakeSherbrooke", "FakeTorino", "FakeKingston")
WIDTHS = (8, 16)
LAYERS = 4
SHOTS = (256, 1024, 4096, 16384, 65536)
BEGIN, END = "<!-- hardware_mapping:begin -->", "<!-- hardware_mapping:end -->"




def layout_table() -> list[str]:
    lines = [
        "| backend | qubits | n | trivial layout: 2q / depth / ESP | qfab layout: 2q / depth / ESP | qfab hardware ansatz: 2q / depth / ESP | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in BACKENDS:
        backend = getattr(fake_provider, name)()
        for n in WIDTHS:
            start = time.perf_counter()
            logical = logical_ansatz(n, LAYERS)
            trivial, ours = map_circuit(logical, backend, "trivial"), map_circuit(logical, backend)
            ansatz = hardware_efficient_ansatz(backend, n, layers=LAYERS)
            native = map_circuit(ansatz.circuit, backend, initial_layout=list(ansatz.physical_qubits))
            cells = [f"{m.two_qubit_gates} / {m.depth} / {m.estimated_success:.3g}" for m in (trivial, ours, native)]
            lines.append(f"| {backend.name} | {backend.num_qubits} | {n} | {cells[0]} | **{cells[1]}** | {cells[2]} | "
                         f"{time.perf_counter() - start:.1f} |")
            print(lines[-1], flush=True)
    return lines


def noisy_exact_gradient(device: QPU, circuit, theta: np.ndarray, observable: SparsePauliOp) -> np.ndarray:
    """The infinite-shot parameter-shift gradient under the fake backend's noise: Aer density
    matrix of each shifted mapped circuit under its gate noise, readout confusion applied by hand
    (not save_expectation_value, qiskit-aer#2442). Z-type observables only."""
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise.device import basic_device_readout_errors

    backend = device.backend
    simulator = AerSimulator(method="density_matrix",
                             noise_model=backend._get_noise_model_from_backend_v2(readout_error=False))
    confusion = {q[0]: np.asarray(e.probabilities) for q, e in basic_device_readout_errors(backend.properties())}
    shiftable, mapped = device.map(circuit)
    n = backend.num_qubits
    support = [q for q, label in enumerate(reversed(observable.paulis[0].to_label())) if label == "Z"]
    mask = sum(1 << mapped.final_layout[q] for q in support)
    signs = 1 - 2 * (np.bitwise_count(np.arange(2**n) & mask).astype(np.int64) % 2)
    rows = shiftable.plan.rows(theta)
    values = []
    for angles in rows:
        bound = mapped.mapped.assign_parameters({p: angles[p.index] for p in mapped.mapped.parameters})
        bound.save_density_matrix()
        rho = simulator.run(bound).result().data()["density_matrix"]
        probabilities = np.real(np.diag(np.asarray(rho))).reshape((2,) * n)
        for qubit, matrix in confusion.items():
            axis = n - 1 - qubit
            probabilities = np.moveaxis(np.tensordot(probabilities, matrix, axes=([axis], [0])), -1, axis)
        values.append(float(probabilities.reshape(-1) @ signs))
    return shiftable.plan.gradients(np.array(values)[None, :, None])[0, 0]


def gradient_table(backend_name: str = "FakeManilaV2", num_qubits: int = 4, repeats: int = 4) -> list[str]:
    noisy = getattr(fake_provider, backend_name)()
    ideal = GenericBackendV2(noisy.num_qubits, noise_info=False, seed=1)
    ansatz = hardware_efficient_ansatz(noisy, num_qubits, layers=2)
    circuit = qfab.from_qiskit(ansatz.circuit)
    observable = SparsePauliOp("Z" * num_qubits)
    theta = np.random.default_rng(0).uniform(-np.pi, np.pi, size=circuit.num_parameters)
    exact = qfab.gradient(circuit, observable, theta)
    noisy_exact = noisy_exact_gradient(QPU(noisy), circuit, theta, observable)
    job_observables = (PauliSum.from_sparse_pauli_op(observable),)
    lines = [
        f"Parameter-shift gradient of ⟨{'Z' * num_qubits}⟩ for qfab's {num_qubits}-qubit hardware ansatz "
        f"({circuit.num_parameters} parameters) on {noisy.name} and on a noiseless backend; RMS over parameters "
        f"and {repeats} repetitions. RMS of the exact gradient: {np.sqrt(np.mean(exact**2)):.3f}; of the "
        f"infinite-shot gradient under {noisy.name}'s noise (density matrix): {np.sqrt(np.mean(noisy_exact**2)):.3f}; "
        f"RMS difference between the two (the noise bias): {np.sqrt(np.mean((noisy_exact - exact)**2)):.4f}.",
        "",
        "| shots per circuit | noisy: RMS deviation from exact | noisy: from noisy exact | noisy: mean error bar "
        "| noiseless: RMS deviation from exact | noiseless: mean error bar |",
        "|---|---|---|---|---|---|",
    ]
    for shots in SHOTS:
        cells = []
        for backend in (noisy, ideal):
            deviations, noisy_deviations, bars = [], [], []
            for repeat in range(repeats):
                device = QPU(backend, shots=shots, seed=1000 * repeat + shots, layout="noise_aware")
                result = device.run([Job(circuit, theta[None], job_observables, gradient="parameter-shift")])[0]
                deviations.append(result.gradients[0, 0] - exact)
                noisy_deviations.append(result.gradients[0, 0] - noisy_exact)
                bars.append(result.gradient_stds[0, 0])
            cells.append(f"{np.sqrt(np.mean(np.square(deviations))):.4f}")
            if backend is noisy:
                cells.append(f"{np.sqrt(np.mean(np.square(noisy_deviations))):.4f}")
            cells.append(f"{np.mean(bars):.4f}")
        lines.append(f"| {shots} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", help="markdown file whose hardware_mapping section is replaced")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*QubitProperties.*")
    start = time.perf_counter()
    sections = ["### Estimated success probability: layout and ansatz", "",
                f"Generic circuit: {LAYERS} layers of RY·RZ on every qubit and a CZ chain; hardware ansatz: "
                f"{LAYERS} layers of rz·sx·rz and the native 2-qubit gate on a spanning tree of good qubits. "
                "ESP = Π(1 − error) over the mapped gates and the readout of the measured qubits.", ""]
    sections += layout_table()
    sections += ["", "### Gradient with shots vs the exact gradient", ""]
    sections += gradient_table()
    sections += ["", f"Command: `.venv/bin/python benchmarks/hardware_mapping.py --write docs/qiskit.md` "
                     f"({time.perf_counter() - start:.0f} s on this machine)."]
    text = "\n".join(sections)
    if args.write:
        with open(args.write) as handle:
            document = handle.read()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        document = pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", document)
        with open(args.write, "w") as handle:
            handle.write(document)


if __name__ == "__main__":
    main()
