"""A PennyLane QNode's gradient on qfab.cpu against lightning.qubit and default.qubit.

The workload: a hardware-efficient ansatz (RY and RZ on every wire, then a CNOT ladder; ``layers``
times) measured in ``<Z_0>``, differentiated with ``diff_method="adjoint"`` through autograd
(``qml.grad``). Two rows per device: one QNode (``P = 2 n layers`` parameters), and a batch of
``batch`` tapes with their own parameters through ``qml.execute`` (qfab runs them as one batch
of ``batch`` parameter sets; the others tape by tape). Medians of ``repeats`` runs after one
warm-up (numba compiles in it).

    .venv/bin/python benchmarks/pennylane_qnode.py --qubits 12 --layers 3 --batch 32 --repeats 5
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def ansatz(qml, x, n, layers):
    k = 0
    for _ in range(layers):
        for w in range(n):
            qml.RY(x[k], wires=w)
            qml.RZ(x[k + 1], wires=w)
            k += 2
        for w in range(n - 1):
            qml.CNOT(wires=[w, w + 1])


def make_tape(qml, x, n, layers):
    with qml.queuing.AnnotatedQueue() as q:
        ansatz(qml, x, n, layers)
        qml.expval(qml.PauliZ(0))
    return qml.tape.QuantumScript.from_queue(q)


def median_seconds(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=12)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--devices", default="qfab.cpu,lightning.qubit,default.qubit")
    args = parser.parse_args(argv)

    import pennylane as qml
    from pennylane import numpy as pnp

    n, layers = args.qubits, args.layers
    num_params = 2 * n * layers
    rng = np.random.default_rng(0)
    x = pnp.array(rng.uniform(-np.pi, np.pi, num_params), requires_grad=True)
    xs = pnp.array(rng.uniform(-np.pi, np.pi, (args.batch, num_params)), requires_grad=True)

    rows, reference = [], {}
    for name in args.devices.split(","):
        try:
            dev = qml.device(name, wires=n)
        except Exception as err:  # noqa: BLE001 - a missing plugin is a row, not a crash
            rows.append((name, f"unavailable: {err}", "", ""))
            continue

        @qml.qnode(dev, diff_method="adjoint")
        def circuit(x):
            ansatz(qml, x, n, layers)
            return qml.expval(qml.PauliZ(0))

        grad = qml.grad(circuit)

        def batch_cost(xs, dev=dev):
            tapes = [make_tape(qml, xs[b], n, layers) for b in range(args.batch)]
            return pnp.sum(pnp.stack(qml.execute(tapes, dev, diff_method="adjoint")))

        batch_grad = qml.grad(batch_cost)
        one = median_seconds(lambda: grad(x), args.repeats)
        many = median_seconds(lambda: batch_grad(xs), args.repeats)
        g, gb = np.asarray(grad(x)), np.asarray(batch_grad(xs))
        if reference:
            err = max(np.max(np.abs(g - reference["one"])), np.max(np.abs(gb - reference["batch"])))
        else:
            reference.update(one=g, batch=gb)
            err = 0.0
        rows.append((name, f"{one * 1e3:.1f}", f"{many * 1e3:.1f}", f"{err:.1e}"))

    print(f"QNode gradient, hardware-efficient ansatz: {n} qubits, {layers} layers, {num_params} parameters, "
          f"<Z_0>, diff_method='adjoint'; batch = {args.batch} tapes; median of {args.repeats}")
    print(f"| device | one QNode gradient (ms) | batch of {args.batch} tapes (ms) | max abs diff vs first row |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
