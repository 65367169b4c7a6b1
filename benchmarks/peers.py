"""One adapter per simulator: the same workload (``workload.ansatz_gates``) through each one's API.

Every adapter has the same shape:

* ``prepare(n)`` builds what the simulator needs for ``n`` qubits (circuit objects, devices);
  the harness calls it once per ``n`` outside the timed region;
* ``forward(n, params)`` runs one state vector and returns a handle; ``state(handle)`` turns it
  into a NumPy vector in **Qiskit's little-endian order** (outside the timed region, so that a
  simulator that keeps its state internally is not charged for a copy it would not need);
* ``gradient(n, params, indices=None)`` returns ``d<Z_0>/dparams`` in the parameter order of
  ``workload.qiskit_ansatz`` (``indices``: only those entries, for simulators whose cost grows
  with the number of parameters differentiated; see ``partial_gradient``);
* ``batch_gradient(n, params)`` takes ``(B, P)`` and returns ``(B, P)``.

``METHODS`` says, in words, which API each row uses; the report prints it. Adapters import
their simulator lazily: an adapter whose simulator is missing reports ``available = False`` and
a reason instead of failing.
"""
from __future__ import annotations

import importlib
from importlib import metadata

import numpy as np

from . import workload

__all__ = ["Adapter", "QfabAdapter", "AerAdapter", "QulacsAdapter", "LightningAdapter", "ALL_ADAPTERS", "make_adapters"]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


class Adapter:
    name = "?"
    label = "?"
    dists: tuple[str, ...] = ()
    partial_gradient = False  # True: gradient cost grows with the entries asked for (parameter shift)
    METHODS: dict[str, str] = {}

    def __init__(self):
        self.available = True
        self.reason = ""
        self._prepared: dict[int, object] = {}
        try:
            self._import()
        except Exception as exc:  # noqa: BLE001 - any failure makes the peer "n/a", never the harness
            self.available = False
            self.reason = f"import failed: {type(exc).__name__}: {exc}"

    def _import(self):
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        return {d: _version(d) for d in self.dists}

    def prepare(self, n: int):
        if n not in self._prepared:
            self._prepared[n] = self._build(n)
        return self._prepared[n]

    def forget(self, n: int) -> None:
        self._prepared.pop(n, None)

    def _build(self, n: int):
        raise NotImplementedError

    def forward(self, n: int, params: np.ndarray):
        raise NotImplementedError

    def state(self, handle) -> np.ndarray:
        return np.asarray(handle)

    def gradient(self, n: int, params: np.ndarray, indices=None) -> np.ndarray:
        raise NotImplementedError

    def batch_gradient(self, n: int, params: np.ndarray) -> np.ndarray:
        raise NotImplementedError


# --------------------------------------------------------------------------------------- qfab


class QfabAdapter(Adapter):
    name = "qfab"
    label = "qfab (cpu)"
    dists = ("qfab", "numba")
    METHODS = {
        "forward": "`qfab.statevector(circ, params)`",
        "gradient": "`qfab.gradient(circ, obs, params)` (adjoint)",
        "batch": "`qfab.gradient(circ, obs, params)` with `params` of shape (B, P): one call",
    }

    def _import(self):
        self.qfab = importlib.import_module("qfab")
        for attr in ("from_qiskit", "statevector", "gradient"):
            if not hasattr(self.qfab, attr):
                raise ImportError(f"qfab has no {attr}() yet")

    def _build(self, n):
        return self.qfab.from_qiskit(workload.qiskit_ansatz(n)), workload.observable(n)

    def forward(self, n, params):
        circ, _ = self.prepare(n)
        return self.qfab.statevector(circ, params)

    def gradient(self, n, params, indices=None):
        circ, obs = self.prepare(n)
        return np.asarray(self.qfab.gradient(circ, obs, params))

    def batch_gradient(self, n, params):
        circ, obs = self.prepare(n)
        return np.asarray(self.qfab.gradient(circ, obs, params))

    def fusion_plan(self, n: int) -> dict | None:
        """Number (and kinds) of fused blocks = passes over the state, if qfab exposes them."""
        circ, _ = self.prepare(n)
        for attr in ("fusion_plan", "plan"):
            plan = getattr(circ, attr, None)
            if plan is not None and hasattr(plan, "num_blocks"):
                return {"num_blocks": int(plan.num_blocks), "source": f"circ.{attr}"}
        try:
            from qfab.backends.cpu import CPUEngine

            program = CPUEngine().program(circ)
            kinds: dict[str, int] = {}
            try:
                from qfab.backends.cpu import kernels

                names = {getattr(kernels, k): k.lower() for k in ("DENSE", "DIAGONAL", "MONOMIAL") if hasattr(kernels, k)}
            except Exception:  # noqa: BLE001
                names = {}
            for kind in getattr(program, "block_kinds", ()):
                key = names.get(kind, str(kind))
                kinds[key] = kinds.get(key, 0) + 1
            widths: dict[int, int] = {}
            for qubits in getattr(program, "block_qubits", ()):
                widths[len(qubits)] = widths.get(len(qubits), 0) + 1
            return {
                "num_blocks": int(program.num_blocks),
                "width": int(getattr(program, "width", 0)),
                "kinds": kinds,
                "block_widths": dict(sorted(widths.items())),
                "source": "qfab.backends.cpu.CPUEngine().program(circ)",
            }
        except Exception:  # noqa: BLE001
            return None


# --------------------------------------------------------------------------------- qiskit-aer


class AerAdapter(Adapter):
    name = "aer"
    label = "qiskit-aer"
    dists = ("qiskit-aer", "qiskit")
    partial_gradient = True
    # Rows per EstimatorV2 PUB: bounds the memory of one Aer run (results are Python objects).
    MAX_ROWS_PER_PUB = 20000
    METHODS = {
        "forward": "`AerSimulator(method='statevector')`, circuit + `save_statevector()`, "
        "`run(qc, parameter_binds=[...]).result().get_statevector()` (Aer's gate fusion on, default threads)",
        "gradient": "parameter shift (+-pi/2, exact for RY/RZ): all 2P shifted parameter sets as one "
        "`qiskit_aer.primitives.EstimatorV2` PUB (`default_precision=0`: exact expectation values), "
        "i.e. one Aer `run` with 2P parameter binds, `max_parallel_experiments=0` (binds spread over all "
        "cores); Aer has no adjoint gradient",
        "batch": "parameter shift as above: B x 2P shifted sets in EstimatorV2 PUBs of at most 20000 rows, "
        "all PUBs in one `EstimatorV2.run` call",
    }

    def _import(self):
        from qiskit_aer import AerSimulator
        from qiskit_aer.primitives import EstimatorV2

        self.sim = AerSimulator(method="statevector")
        # max_parallel_experiments=0: Aer runs the many parameter binds on all cores at once (measured
        # 1.6x faster than the default of one experiment at a time for small n, equal at large n).
        self.estimator = EstimatorV2(options={"default_precision": 0.0, "backend_options": {
            "method": "statevector", "max_parallel_experiments": 0}})

    def _build(self, n):
        qc = workload.qiskit_ansatz(n)
        with_save = qc.copy()
        with_save.save_statevector()
        return qc, with_save, list(qc.parameters), workload.observable(n)

    def forward(self, n, params):
        _, with_save, plist, _ = self.prepare(n)
        binds = {p: [float(v)] for p, v in zip(plist, params)}
        return self.sim.run(with_save, parameter_binds=[binds]).result().get_statevector()

    def state(self, handle):
        return np.asarray(handle.data if hasattr(handle, "data") else handle)

    @staticmethod
    def _shifted(params, indices):
        """(2k, P): rows +pi/2 on each index, then rows -pi/2."""
        k = len(indices)
        rows = np.repeat(params[None, :], 2 * k, axis=0)
        rows[np.arange(k), indices] += np.pi / 2
        rows[k + np.arange(k), indices] -= np.pi / 2
        return rows

    def _evaluate(self, n, rows):
        qc, _, _, obs = self.prepare(n)
        pubs = [(qc, obs, rows[s : s + self.MAX_ROWS_PER_PUB]) for s in range(0, len(rows), self.MAX_ROWS_PER_PUB)]
        result = self.estimator.run(pubs).result()
        return np.concatenate([np.asarray(r.data.evs).ravel() for r in result])

    def gradient(self, n, params, indices=None):
        indices = np.arange(params.size) if indices is None else np.asarray(indices)
        evs = self._evaluate(n, self._shifted(params, indices))
        k = len(indices)
        return 0.5 * (evs[:k] - evs[k:])

    def batch_gradient(self, n, params):
        b, p = params.shape
        idx = np.arange(p)
        rows = np.concatenate([self._shifted(params[i], idx) for i in range(b)])
        evs = self._evaluate(n, rows).reshape(b, 2 * p)
        return 0.5 * (evs[:, :p] - evs[:, p:])


# ------------------------------------------------------------------------------------- qulacs


class QulacsAdapter(Adapter):
    name = "qulacs"
    label = "qulacs"
    dists = ("qulacs",)
    METHODS = {
        "forward": "`ParametricQuantumCircuit` (parametric RY/RZ, CNOT), `set_parameter` x P, "
        "`QuantumState.set_zero_state()`, `update_quantum_state` (the `QuantumState` is allocated once outside the timed region and "
        "stays in qulacs: no copy out is timed)",
        "gradient": "`ParametricQuantumCircuit.backprop(Observable Z0)` (qulacs' adjoint-style backprop)",
        "batch": "Python loop over the B parameter sets: `set_parameter` x P + `backprop` each (qulacs has no batch API)",
    }

    def _import(self):
        self.qulacs = importlib.import_module("qulacs")
        if not hasattr(self.qulacs.ParametricQuantumCircuit, "backprop"):
            self.no_backprop = "this qulacs has no ParametricQuantumCircuit.backprop"
        else:
            self.no_backprop = ""

    def _build(self, n):
        q = self.qulacs
        circuit = q.ParametricQuantumCircuit(n)
        order = []  # qulacs parameter index -> our parameter index
        for g in workload.ansatz_gates(n):
            if g.name == "ry":
                circuit.add_parametric_RY_gate(g.qubits[0], 0.0)
                order.append(g.param)
            elif g.name == "rz":
                circuit.add_parametric_RZ_gate(g.qubits[0], 0.0)
                order.append(g.param)
            else:
                circuit.add_CNOT_gate(*g.qubits)
        obs = q.Observable(n)
        obs.add_operator(1.0, "Z 0")  # qulacs qubit 0 is the least significant bit, as in Qiskit
        return circuit, np.asarray(order), obs, q.QuantumState(n)

    def _set(self, circuit, order, params):
        # qulacs' rotations are exp(+i theta P / 2), Qiskit's exp(-i theta P / 2): negate.
        for i, v in enumerate((-params[order]).tolist()):
            circuit.set_parameter(i, v)

    forward_mode = "parametric"  # or "fused": bound circuit + QuantumCircuitOptimizer (run_all --qulacs-forward)
    FUSED_METHOD = ("bound `QuantumCircuit` (RotY/RotZ/CNOT) built per call, fused by "
                    "`QuantumCircuitOptimizer().optimize(circuit, 2)` (build + fusion timed), then `update_quantum_state` "
                    "into a `QuantumState` allocated once outside the timed region")

    def forward(self, n, params):
        circuit, order, _, state = self.prepare(n)
        if self.forward_mode == "fused":
            return self._forward_fused(n, params, state)
        self._set(circuit, order, params)
        state.set_zero_state()
        circuit.update_quantum_state(state)
        return state

    def _forward_fused(self, n, params, state):
        from qulacs.circuit import QuantumCircuitOptimizer

        circuit = self.qulacs.QuantumCircuit(n)
        for g in workload.ansatz_gates(n):
            if g.name == "ry":
                circuit.add_RotY_gate(g.qubits[0], float(params[g.param]))  # RotY: Qiskit's sign
            elif g.name == "rz":
                circuit.add_RotZ_gate(g.qubits[0], float(params[g.param]))
            else:
                circuit.add_CNOT_gate(*g.qubits)
        QuantumCircuitOptimizer().optimize(circuit, 2)
        state.set_zero_state()
        circuit.update_quantum_state(state)
        return state

    def state(self, handle):
        return np.asarray(handle.get_vector())

    def gradient(self, n, params, indices=None):
        if self.no_backprop:
            raise NotImplementedError(self.no_backprop)
        circuit, order, obs, _ = self.prepare(n)
        self._set(circuit, order, params)
        back = np.asarray(circuit.backprop(obs))
        grad = np.empty(params.size)
        grad[order] = -back
        return grad

    def batch_gradient(self, n, params):
        return np.stack([self.gradient(n, row) for row in params])


# -------------------------------------------------------------------------- pennylane-lightning


class LightningAdapter(Adapter):
    name = "lightning"
    label = "pennylane-lightning"
    dists = ("pennylane", "pennylane-lightning")
    METHODS = {
        "forward": "QNode on `lightning.qubit` returning `qml.state()` (Qiskit qubit q on wire n-1-q, "
        "so the state comes out in Qiskit order with no permutation)",
        "gradient": "QNode `diff_method='adjoint'` returning `qml.expval(qml.Z(n-1))`, `qml.grad` (autograd)",
        "batch": "B tapes handed to the device at once: `dev.compute_derivatives(tapes, "
        "ExecutionConfig(gradient_method='adjoint'))` (one call, lightning's adjoint per tape; faster than "
        "a Python loop of `qml.grad`, which `--pl-batch loop` selects)",
    }
    batch_mode = "device"

    def _import(self):
        self.qml = importlib.import_module("pennylane")
        self.pnp = importlib.import_module("pennylane.numpy")
        self.qml.device("lightning.qubit", wires=1)  # raises if the plugin is missing

    def _ops(self, n, params):
        qml = self.qml
        ops = []
        for g in workload.ansatz_gates(n):
            if g.name == "ry":
                ops.append(qml.RY(params[g.param], wires=n - 1 - g.qubits[0]))
            elif g.name == "rz":
                ops.append(qml.RZ(params[g.param], wires=n - 1 - g.qubits[0]))
            else:
                ops.append(qml.CNOT(wires=[n - 1 - g.qubits[0], n - 1 - g.qubits[1]]))
        return ops

    def _build(self, n):
        qml = self.qml
        dev = qml.device("lightning.qubit", wires=n)

        def apply(params):
            self._ops(n, params)  # operations made inside a QNode queue themselves

        @qml.qnode(dev, diff_method=None)
        def state(params):
            apply(params)
            return qml.state()

        @qml.qnode(dev, diff_method="adjoint")
        def energy(params):
            apply(params)
            return qml.expval(qml.Z(n - 1))

        return dev, state, energy, qml.grad(energy)

    def forward(self, n, params):
        _, state, _, _ = self.prepare(n)
        return state(params)

    def gradient(self, n, params, indices=None):
        _, _, _, grad = self.prepare(n)
        return np.asarray(grad(self.pnp.array(params, requires_grad=True)))

    def batch_gradient(self, n, params):
        if self.batch_mode == "loop":
            return np.stack([self.gradient(n, row) for row in params])
        qml = self.qml
        from pennylane.devices import ExecutionConfig

        dev = self.prepare(n)[0]
        tapes = [qml.tape.QuantumScript(self._ops(n, row), [qml.expval(qml.Z(n - 1))]) for row in params]
        jacs = dev.compute_derivatives(tapes, ExecutionConfig(gradient_method="adjoint"))
        return np.asarray([np.asarray(j, dtype=float).ravel() for j in jacs])


ALL_ADAPTERS = (QfabAdapter, AerAdapter, QulacsAdapter, LightningAdapter)


def make_adapters(names=None) -> list[Adapter]:
    chosen = [cls for cls in ALL_ADAPTERS if names is None or cls.name in names]
    return [cls() for cls in chosen]
