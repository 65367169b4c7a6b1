"""Random parametric circuits for v2 verification, their exact reference, the gradient-error table.

A :class:`Circuit` gives the stored program (:meth:`Circuit.body`: INIT, GATE_ROT and fixed gates,
OBS terms), the v1 program the host would have bound for the same angles (:meth:`Circuit.v1`) and
an exact complex128 reference (state, cost, gradient). The tests, the RTL benches and
``python -m qfab_hw.parametric`` (the measured gradient errors against the error law, in
hw/README.md) share them.
"""

from __future__ import annotations

import math

import numpy as np

from qfab_hw import Assembler

KINDS = ("rx", "ry", "rz", "p")
_H = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
_SDG_H = _H @ np.diag([1, -1j])  # Y -> Z basis change


def rotation_matrix(kind: str, phi: float) -> np.ndarray:
    c, s = math.cos(phi / 2), math.sin(phi / 2)
    if kind == "rx":
        return np.array([[c, -1j * s], [-1j * s, c]])
    if kind == "ry":
        return np.array([[c, -s], [s, c]], dtype=complex)
    if kind == "rz":
        return np.diag([complex(c, -s), complex(c, s)])
    return np.diag([1, np.exp(1j * phi)])


def random_unitary(rng) -> np.ndarray:
    z = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


class Circuit:
    """ops: ("rot", kind, target, control, param, a, b) | ("u", matrix, target, control) |
    ("x", target, control) | ("q", quarter_turns, target, control); terms: [(qubits, weight)]."""

    def __init__(self, n, ops, terms, params):
        self.n, self.ops, self.terms, self.params = n, list(ops), list(terms), params

    @property
    def rotations(self):
        return [op for op in self.ops if op[0] == "rot"]

    def body(self, width: int) -> Assembler:
        asm = Assembler(width).init(self.n)
        for op in self.ops:
            if op[0] == "rot":
                _, kind, target, control, param, a, b = op
                asm.rot(kind, target, param, a=a, b=b, control=control)
            elif op[0] == "u":
                asm.unitary(op[1], op[2], op[3])
            elif op[0] == "x":
                asm.x(op[1], op[2])
            else:
                asm.phase_quarter(op[1], op[2], op[3])
        for qubits, weight in self.terms:
            asm.obs(qubits, weight)
        return asm

    def v1(self, theta, width: int, readout=True, coefficients=None) -> Assembler:
        """The v1 program for one set: rotations bound on the host (``coefficients``: a list of
        (opcode, payload) per rotation to use instead, e.g. the core's own)."""
        asm = Assembler(width).init(self.n)
        r = 0
        for op in self.ops:
            if op[0] == "rot":
                _, kind, target, control, param, a, b = op
                if coefficients is not None:
                    asm.instructions.append(coefficients_instruction(coefficients[r], kind, target, control))
                else:
                    phi = a * theta[param] + b
                    {"rx": asm.rx, "ry": asm.ry, "rz": asm.rz, "p": asm.phase}[kind](phi, target, control)
                r += 1
            elif op[0] == "u":
                asm.unitary(op[1], op[2], op[3])
            elif op[0] == "x":
                asm.x(op[1], op[2])
            else:
                asm.phase_quarter(op[1], op[2], op[3])
        if readout:
            asm.read_state()
        return asm

    # -- exact reference ------------------------------------------------------------------
    def state(self, theta) -> np.ndarray:
        psi = np.zeros(1 << self.n, dtype=complex)
        psi[0] = 1
        for op in self.ops:
            if op[0] == "rot":
                _, kind, target, control, param, a, b = op
                psi = apply(psi, rotation_matrix(kind, a * theta[param] + b), target, control)
            elif op[0] == "u":
                psi = apply(psi, op[1], op[2], op[3])
            elif op[0] == "x":
                psi = apply(psi, np.array([[0, 1], [1, 0]], dtype=complex), op[1], op[2])
            else:
                psi = apply(psi, np.diag([1, 1j ** op[1]]), op[2], op[3])
        return psi

    def cost(self, theta) -> float:
        psi = self.state(theta)
        probs = np.abs(psi) ** 2
        index = np.arange(1 << self.n)
        total = 0.0
        for qubits, weight in self.terms:
            mask = sum(1 << q for q in qubits)
            signs = 1 - 2 * (np.array([bin(i & mask).count("1") for i in index]) & 1)
            total += weight * float(np.sum(signs * probs))
        return total

    def gradient(self, theta, h: float = 1e-5) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        grad = np.zeros(self.params)
        for i in range(self.params):
            up, down = theta.copy(), theta.copy()
            up[i] += h
            down[i] -= h
            grad[i] = (self.cost(up) - self.cost(down)) / (2 * h)
        return grad


def coefficients_instruction(coefficients, kind, target, control):
    """A v1 GATE_U (RX, RY) or GATE_DIAG (RZ, P) carrying fixed-point ``coefficients``."""
    from qfab_hw.program import Instruction, Opcode

    if kind in ("rz", "p"):
        return Instruction(Opcode.GATE_DIAG, target, control, payload=(coefficients[0], coefficients[3]))
    return Instruction(Opcode.GATE_U, target, control, payload=tuple(coefficients))


def apply(psi, matrix, target, control=None):
    n = int(len(psi)).bit_length() - 1
    view = psi.reshape(-1, 2, 1 << target).copy()
    new = np.einsum("ij,ajb->aib", matrix, view)
    if control is not None:
        i0 = np.arange(1 << n).reshape(-1, 2, 1 << target)[:, 0, :]
        active = ((i0 >> control) & 1 == 1)[:, None, :]
        new = np.where(active, new, view)
    return new.reshape(-1)


def random_circuit(rng, n: int, gates: int, params: int, controlled: bool = True,
                   integer_a: bool = False, terms: int = 2, basis_change: bool = True) -> Circuit:
    ops = []
    for _ in range(gates):
        target = int(rng.integers(n))
        control = None
        if controlled and n > 1 and rng.random() < 0.3:
            control = int(rng.choice([q for q in range(n) if q != target]))
        choice = rng.random()
        if choice < 0.6:
            kind = str(rng.choice(KINDS))
            a = float(rng.choice([1.0, -1.0, 2.0])) if integer_a or rng.random() < 0.6 \
                else float(np.round(rng.uniform(-3, 3), 3))
            b = float(rng.uniform(-math.pi, math.pi)) if rng.random() < 0.5 else 0.0
            ops.append(("rot", kind, target, control, int(rng.integers(params)), a, b))
        elif choice < 0.75:
            ops.append(("u", random_unitary(rng), target, control))
        elif choice < 0.9:
            ops.append(("x", target, control if control is not None else (target + 1) % n if n > 1 else None))
        else:
            ops.append(("q", int(rng.integers(4)), target, control))
    if basis_change:
        for q in range(n):
            if rng.random() < 0.3:
                ops.append(("u", _H if rng.random() < 0.5 else _SDG_H, q, None))
    chosen = []
    for _ in range(terms):
        qubits = sorted(set(int(q) for q in rng.choice(n, size=int(rng.integers(1, n + 1)))))
        chosen.append((qubits, float(np.round(rng.uniform(-1.5, 1.5), 3))))
    return Circuit(n, ops, chosen, params)


def hea(n: int, layers: int, observable=((0,), 1.0)) -> Circuit:
    """qfab's hardware-efficient ansatz (RY, RZ per qubit, CZ chain per layer) with one Z term."""
    ops, index = [], 0
    for _ in range(layers):
        for q in range(n):
            for kind in ("ry", "rz"):
                ops.append(("rot", kind, q, None, index, 1.0, 0.0))
                index += 1
        for q in range(n - 1):
            ops.append(("q", 2, q + 1, q))
    return Circuit(n, ops, [observable], index)



def error_law(circuit: Circuit, params, a_sum: float = 1.0, kappa: float = 1.0, adjoint: bool = False) -> float:
    """``kappa * sqrt(passes) * 2**-F * max(S, 2**k) * A``: the scale of a value (A = 1) or
    gradient (A = sum of |a| over the parameter's occurrences) error, S = sum |c_j|, k the
    lambda scale exponent; passes = gates + OBS terms, three times that for the adjoint
    (forward, then psi and lambda un-computed through every gate)."""
    from qfab_hw.model.sequencer import obs_scale_shift
    from qfab_hw.program import weight_word

    weights = [w for _, w in circuit.terms]
    k = obs_scale_shift([int(np.int64(weight_word(w)).astype(np.int32)) for w in weights])
    scale = max(sum(abs(w) for w in weights), 2.0**k)
    passes = (len(circuit.ops) + len(circuit.terms)) * (3 if adjoint else 1)
    return kappa * math.sqrt(passes) * 2.0 ** -params.frac_bits * scale * a_sum


def occurrence_scale(circuit: Circuit) -> np.ndarray:
    """A_i: the sum of |a| over each parameter's rotations."""
    scale = np.zeros(circuit.params)
    for op in circuit.rotations:
        scale[op[4]] += abs(op[5])
    return scale


def gradient_errors(circuit: Circuit, width: int, thetas, lanes: int = 1) -> dict:
    """Errors of the core's value and RUN_SHIFT / RUN_ADJOINT gradients against the exact ones,
    in units of :func:`error_law` (one entry per set and used parameter)."""
    from qfab_hw import CoreModel, CoreParams
    from qfab_hw.program import decode_gradients

    sets, count = np.shape(thetas)
    core = CoreParams(max_qubits=max(circuit.n, lanes.bit_length()), lanes=lanes, width=width, adjoint=True)
    results = {}
    for mode in ("run_shift", "run_adjoint"):
        outer = Assembler(width).program(circuit.body(width)).load_params(thetas)
        getattr(outer, mode)(0, sets)
        results[mode] = decode_gradients(CoreModel(core).run(outer.end().words()).beats, sets, count, width)
    scale = occurrence_scale(circuit)
    errors = {"value": [], "shift": [], "adjoint": []}
    for s in range(sets):
        exact = circuit.gradient(thetas[s])
        errors["value"].append(abs(results["run_shift"][0][s] - circuit.cost(thetas[s])) / error_law(circuit, core))
        for i in np.flatnonzero(scale):
            errors["shift"].append(abs(results["run_shift"][1][s, i] - exact[i]) / error_law(circuit, core, scale[i]))
            errors["adjoint"].append(abs(results["run_adjoint"][1][s, i] - exact[i])
                                     / error_law(circuit, core, scale[i], adjoint=True))
    return errors


def measure_gradient_errors(widths=(14, 16, 18), qubits=(3, 5, 7), circuits: int = 6, gates: int = 20,
                            params_per_set: int = 4, sets: int = 2, seed: int = 7):
    """Rows (label, W, {value/shift/adjoint: (rms, max)} in units of :func:`error_law`) over
    random circuits and qfab's hardware-efficient ansatz, against the exact gradient."""
    rng = np.random.default_rng(seed)
    rows = []
    for width in widths:
        cases = [(f"random n={n}, {gates} gates", [random_circuit(rng, n, gates, params_per_set)
                                                   for _ in range(circuits)]) for n in qubits]
        cases += [("HEA 8 qubits x 2 layers", [hea(8, 2)]), ("HEA 4 qubits x 6 layers", [hea(4, 6)])]
        for label, group in cases:
            errors = {"value": [], "shift": [], "adjoint": []}
            for circuit in group:
                repeat = sets if len(group) > 1 else 3 * sets
                thetas = rng.uniform(-math.pi, math.pi, size=(repeat, circuit.params))
                for key, values in gradient_errors(circuit, width, thetas).items():
                    errors[key] += values
            rows.append((label, width, {key: (float(np.sqrt(np.mean(np.square(e)))), float(np.max(e)))
                                        for key, e in errors.items()}))
    return rows


def main() -> None:
    print("| circuit | W | value rms / max | shift gradient rms / max | adjoint gradient rms / max |")
    print("|---|---|---|---|---|")
    for label, width, stats in measure_gradient_errors():
        cells = " | ".join(f"{stats[k][0]:.2f} / {stats[k][1]:.2f}" for k in ("value", "shift", "adjoint"))
        print(f"| {label} | {width} | {cells} |")


if __name__ == "__main__":
    main()


__all__ = ["Circuit", "apply", "error_law", "gradient_errors", "hea", "measure_gradient_errors", "occurrence_scale",
           "random_circuit", "rotation_matrix"]
