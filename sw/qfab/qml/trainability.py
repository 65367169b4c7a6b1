"""Trainability diagnosis: is this ansatz + cost + initialiser on a barren plateau, before training?

Sampled: the variance of dC/dtheta over random initialisations (and, for McClean's circuit,
random rotation axes), per parameter, over a grid of qubit counts and depths, with bootstrap
confidence intervals; a fitted decay base ``b`` in ``Var ~ a b^n``; the depth beyond which the
variance stops changing. One point of the grid is one batched ``api.gradient`` call, so the
``device`` argument is passed through to whatever device (or planner) runs the batch.

Predicted: the unitary 2-design value

    Var[dC] = E[(1 - <G>^2_rho-) / 2] (Tr H^2 - (Tr H)^2 / d) / (d^2 - 1)

(derived in the barren-plateau reference, section 1.1; ``H`` the cost observable, ``G`` the
differentiated gate's generator, ``rho-`` the state before it), and the Lie-algebraic loss
variance of :mod:`qfab.qml.lie` where it applies.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from qfab import api
from qfab.core.shift import shift_parameters
from qfab.qml import lie
from qfab.qml.ansatz import Ansatz, build_ansatz, with_identity_blocks
from qfab.qml.costs import Cost, build_cost, cost_values
from qfab.qml.init import Initializer, build_initializer
from qfab.qml.variance import STATIONARY_VARIANCE, DecayFit, ScanResult, VariancePoint, fit_decay

__all__ = [
    "VariancePoint", "DecayFit", "ScanResult", "sample_gradients", "bootstrap_variance_interval", "fit_decay",
    "saturation_depth", "two_design_variance", "lie_prediction", "scan", "is_plateau", "remedy_ranking", "verdict",
    "recommendation", "cli_main",
]


# Above this many chosen parameters one adjoint pass (measured at ~8 forward passes for McClean's
# circuit at n = 14, L = 100, more with several observables) beats two shifted passes per parameter.
_SHIFT_MAX_PARAMETERS = 3


def _circuit_gradients(ansatz: Ansatz, costs: Sequence[Cost], theta, structure, parameters, device):
    """Gradients (B, len(parameters)) of the chosen trainable parameters and loss values (B,), per cost.

    A scan asks for one or a few parameters, so it shifts them (:func:`qfab.core.shift.shift_parameters`:
    two rows per chosen parameter for a Pauli rotation): every sample is run at ``theta`` (the loss)
    and at each of its shifted rows, all as rows of one batched state-vector call, and every cost is
    read off the same states (:func:`cost_values`). That is 1 + 2k forward passes per sample whatever
    the number of costs, against a full adjoint sweep over all 3 n L circuit parameters per
    observable. Parameters driving more than one gate, or many chosen parameters, go through the
    adjoint gradient instead."""
    params = ansatz.circuit_parameters(theta, structure)
    columns = ansatz.active_columns(len(params), structure)[:, parameters]
    if len(parameters) > _SHIFT_MAX_PARAMETERS:
        return _adjoint_gradients(ansatz, costs, params, structure, parameters, device)
    try:
        shifts = shift_parameters(ansatz.circuit, params, columns)
    except ValueError:  # some chosen column is not a single rotation
        return _adjoint_gradients(ansatz, costs, params, structure, parameters, device)
    rows = np.concatenate([params[None], shifts.rows])  # (1 + S, B, P)
    values = cost_values(costs, ansatz.circuit, rows.reshape(-1, params.shape[1]), device).reshape(
        rows.shape[0], len(params), len(costs))
    grads = shifts.gradients(values[1:])  # (B, k, K)
    return [(grads[:, :, k].copy(), values[0, :, k]) for k in range(len(costs))]


def _adjoint_gradients(ansatz: Ansatz, costs: Sequence[Cost], params, structure, parameters, device):
    """Every parameter's gradient by qfab's adjoint method (state-based costs by parameter shift on
    the chosen parameters only), then the chosen ones."""
    out = [None] * len(costs)
    expanded = [k for k, c in enumerate(costs) if not c.state_based]
    if expanded:
        observables = [costs[k].observable for k in expanded]
        grads = ansatz.trainable_gradient(api.gradient(ansatz.circuit, observables, params, device=device), structure)
        values = cost_values([costs[k] for k in expanded], ansatz.circuit, params, device)
        for slot, k in enumerate(expanded):
            out[k] = (grads[:, slot, parameters], values[:, slot])
    for k, cost in enumerate(costs):
        if cost.state_based:
            # Parameter shift per chosen parameter, only on the rows whose sampled axis uses each column.
            active = ansatz.active_columns(len(params), structure)
            grads = np.zeros((len(params), len(parameters)))
            for slot, j in enumerate(parameters):
                for column in np.unique(active[:, j]):
                    rows = np.flatnonzero(active[:, j] == column)
                    grads[rows, slot] = cost.gradient(ansatz.circuit, params[rows], [int(column)], device=device)[:, 0]
            out[k] = (grads, cost.value(ansatz.circuit, params, device))
    return out


def sample_gradients(ansatz: Ansatz, costs: Cost | Sequence[Cost], samples: int, initializer: Initializer,
                     parameters: Sequence[int] | None = None, seed: int | np.random.Generator = 0, device="cpu"):
    """``samples`` random initialisations -> per cost ``(gradients (samples, k), losses (samples,))``."""
    single = isinstance(costs, Cost)
    costs = [costs] if single else list(costs)
    rng = np.random.default_rng(seed)
    parameters = list(range(ansatz.num_parameters)) if parameters is None else list(parameters)
    theta = initializer(ansatz, samples, rng)
    structure = ansatz.sample_structure(rng, samples)
    out = _circuit_gradients(ansatz, costs, theta, structure, parameters, device)
    return out[0] if single else out


def bootstrap_variance_interval(values: np.ndarray, rng: np.random.Generator, resamples: int = 1000,
                                level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap of the sample variance (column-mean of per-column variances for 2-D input)."""
    values = np.asarray(values)
    values = values[:, None] if values.ndim == 1 else values
    draws = rng.integers(0, len(values), size=(resamples, len(values)))
    variances = values[draws].var(axis=1, ddof=1).mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(variances, tail)), float(np.quantile(variances, 1 - tail))


def saturation_depth(points: Sequence[VariancePoint]) -> int | None:
    """The smallest depth from which every deeper variance lies inside the deepest point's interval:
    past it, more layers no longer change the landscape's flatness (the scrambling depth)."""
    points = sorted(points, key=lambda p: p.layers)
    if len(points) < 2:
        return None
    low, high = points[-1].interval
    depth = points[-1].layers
    for p in reversed(points):
        if not low <= p.variance <= high:
            break
        depth = p.layers
    return depth


def two_design_variance(cost: Cost, state_term: float | None = None) -> float:
    """Gradient variance if the circuit after (and, by default, before) the gate is a 2-design.
    ``state_term`` is ``E[(1 - <G>^2)/2]`` over the state before the gate; a Haar state gives
    ``d / (2 (d + 1))``."""
    d = 2 ** cost.num_qubits
    if cost.projector_bits is not None:  # H = -|b><b|: Tr H^2 = 1, Tr H = -1
        spread = 1 - 1 / d
    else:
        op = cost.observable.simplify()
        coefficients = dict(zip(op.paulis.to_labels(), op.coeffs))
        identity = coefficients.get("I" * cost.num_qubits, 0)
        spread = d * float(np.sum(np.abs(op.coeffs) ** 2) - abs(identity) ** 2)
    term = d / (2 * (d + 1)) if state_term is None else state_term
    return term * spread / (d * d - 1)


def lie_prediction(ansatz: Ansatz, cost: Cost, max_qubits: int = 8, max_dimension: int = 5000):
    """``(dimension, loss variance or None, note)`` of the ansatz's DLA, or ``(None, None, reason)``."""
    if ansatz.num_qubits > max_qubits:
        return None, None, f"Lie closure skipped above {max_qubits} qubits"
    try:
        if ansatz.generators is not None:
            generators, preparation = ansatz.generators, None
        else:
            # For random axes the circuit holds all three rotations per site; their union generates the DLA.
            generators, preparation = lie.circuit_generators(ansatz.qiskit_circuit)
        algebra = lie.lie_closure(generators, max_dimension=max_dimension)
    except ValueError as err:
        return None, None, str(err)
    from qiskit.quantum_info import Statevector

    state = Statevector.from_label("0" * ansatz.num_qubits)
    if preparation is not None and len(preparation.data):
        state = state.evolve(preparation)
    observable = cost.observable if not cost.state_based else None
    if observable is None:
        return algebra.dimension, None, "global projector above the expansion limit"
    variance, note = lie.lie_variance(algebra, _drop_identity(observable), state.data)
    return algebra.dimension, variance, note


def _drop_identity(op):
    label = "I" * op.num_qubits
    keep = [i for i, l in enumerate(op.paulis.to_labels()) if l != label]
    return op[keep] if keep else op


def scan(ansatz_name: str, cost_names: Sequence[str], qubits: Sequence[int], layers: Sequence[int], samples: int,
         inits: Sequence[str] = ("uniform",), parameters: Sequence[int] = (0,), seed: int = 0, device="cpu",
         sigma: float | None = None, block_layers: int = 2, bootstrap: int = 1000, progress: bool = True,
         lie_max_qubits: int = 6) -> ScanResult:
    """Sample every (init, n, L) cell for all costs at once (one batched gradient call per cell).

    ``identity_blocks`` builds the ansatz with mirrored blocks of ``block_layers`` layers, with
    ``L`` the total number of layers (forward and mirrored)."""
    from tqdm import tqdm

    result = ScanResult()
    rng = np.random.default_rng(seed)
    cells = [(init, n, L) for init in inits for n in qubits for L in layers]
    lie_cache: dict = {}
    for init_name, n, L in tqdm(cells, disable=not progress, desc="plateau scan"):
        if init_name == "identity_blocks":
            ansatz = with_identity_blocks(build_ansatz(ansatz_name, n, max(1, L // 2)), block_layers)
        else:
            ansatz = build_ansatz(ansatz_name, n, L)
        initializer = build_initializer(init_name, sigma)
        costs = [build_cost(name, n) for name in cost_names]
        chosen = [p for p in parameters if p < ansatz.num_parameters]
        start = time.perf_counter()
        outputs = sample_gradients(ansatz, costs, samples, initializer, chosen, rng, device)
        seconds = time.perf_counter() - start
        for cost, (grads, losses) in zip(costs, outputs):
            key = (ansatz.name, cost.name, n, L)
            if key not in lie_cache:
                lie_cache[key] = lie_prediction(ansatz, cost, max_qubits=lie_max_qubits) if init_name == "uniform" else (None, None, "")
            dimension, lie_var, _ = lie_cache[key]
            first_term = ansatz.first_gate_state_term if chosen and chosen[0] < ansatz.num_qubits else None
            result.points.append(VariancePoint(
                ansatz=ansatz.name, cost=cost.name, init=init_name, num_qubits=n, layers=L, samples=samples,
                parameters=chosen, variance=float(grads.var(axis=0, ddof=1).mean()),
                interval=bootstrap_variance_interval(grads, rng, bootstrap), per_parameter=grads.var(axis=0, ddof=1).tolist(),
                mean_gradient=float(grads.mean()), loss_variance=float(losses.var(ddof=1)),
                two_design=two_design_variance(cost, first_term), lie=lie_var, lie_dimension=dimension, seconds=seconds))
    return result


def is_plateau(fit: DecayFit | None) -> bool:
    """A fitted exponential decay whose base is resolved below 0.9 (upper end of its 95% interval) is
    a barren plateau, whatever the variance at the largest n scanned."""
    return fit is not None and fit.interval[1] < 0.9


def remedy_ranking(result: ScanResult) -> list[tuple[str, str, DecayFit | None, float]]:
    """``(cost, init, decay fit, variance at the largest n)`` for every scanned cost and initialiser at
    the deepest depth, best first, ranked by what each does to the decay: no resolved plateau before
    a plateau, then the slower decay (larger base), then the larger variance at the largest n;
    stationary initial points (zero gradient everywhere) last."""
    deepest = max(p.layers for p in result.points)
    largest = max(p.num_qubits for p in result.points)
    rows = []
    for cost in dict.fromkeys(p.cost for p in result.points):
        for init in dict.fromkeys(p.init for p in result.points):
            cell = result.select(cost=cost, init=init, layers=deepest, num_qubits=largest)
            if not cell:
                continue
            fit = result.decay(cost, init, deepest)
            variance = cell[0].variance
            stationary = variance < STATIONARY_VARIANCE
            key = (-1 if stationary else (0 if is_plateau(fit) else 1), fit.base if fit is not None else 1.0, variance)
            rows.append((key, cost, init, fit, variance))
    rows.sort(key=lambda r: r[0], reverse=True)
    return [(cost, init, fit, variance) for _, cost, init, fit, variance in rows]


def verdict(result: ScanResult) -> list[str]:
    """Sentences a person can act on: decay per cost and init, scrambling depth, remedies ranked by effect."""
    lines = []
    deepest = max(p.layers for p in result.points)
    largest = max(p.num_qubits for p in result.points)
    costs = list(dict.fromkeys(p.cost for p in result.points))
    inits = list(dict.fromkeys(p.init for p in result.points))
    for cost in costs:
        for init in inits:
            fit = result.decay(cost, init, deepest)
            if fit is None:
                continue
            kind = "exponential decay: barren plateau" if is_plateau(fit) else "no exponential decay resolved"
            lines.append(f"{cost} cost, {init} init, depth {deepest}: variance decays as {fit.describe()} — {kind}.")
    for cost in costs:
        depth = saturation_depth(result.select(cost=cost, init=inits[0], num_qubits=largest))
        if depth is None:
            continue
        if depth < deepest:
            lines.append(f"{cost} cost at n={largest}: the variance stops changing from depth {depth} "
                         f"(scrambling depth); deeper circuits only cost time.")
        else:
            lines.append(f"{cost} cost at n={largest}: the variance is still changing at depth {deepest}; "
                         "scan deeper to find the scrambling depth.")
    ranked = remedy_ranking(result)
    if ranked:
        def describe(fit, variance):
            decay = "no decay fitted" if fit is None else (f"decay {fit.base:.3g}^n" + (" (plateau)" if is_plateau(fit) else ""))
            return f"{decay}, variance {variance:.3g} at n={largest}"

        lines.append(f"Remedies ranked by what they do to the decay with n (slower first), then by the variance at "
                     f"n={largest}, depth {deepest}: " + "; ".join(f"{c} + {i}: {describe(f, v)}" for c, i, f, v in ranked) + ".")
        stationary = [f"{c} + {i}" for c, i, f, v in ranked if v < STATIONARY_VARIANCE]
        if stationary:
            lines.append("Zero gradient at every sample for " + ", ".join(stationary) + ": the initial point is a "
                         "stationary point (e.g. an identity circuit on |0...0> with Z observables), not a plateau.")
        lines.append(f"Recommendation: {recommendation(result, ranked[0][0])[1]}")
    for p in result.select(init="uniform", num_qubits=largest, layers=deepest):
        if p.lie_dimension is not None:
            d = p.lie_dimension
            su = 4 ** p.num_qubits - 1
            if d < su:
                lines.append(f"{p.cost}: the dynamical Lie algebra has dimension {d} (< {su} for su(2^n)); a polynomial "
                             "DLA avoids the plateau but makes the model likely classically simulable (g-sim, Cerezo et al. 2025).")
            else:
                lines.append(f"{p.cost}: the dynamical Lie algebra is su(2^n) (dimension {d}): deep circuits form a "
                             "2-design, expect the plateau.")
            break
    return lines


def recommendation(result: ScanResult, cost: str, factor: float = 10.0) -> tuple[str, str]:
    """The initialiser to use with ``cost``. If uniform initialisation's variance decays exponentially
    with n (:func:`is_plateau`), it is on a plateau whatever its variance at the largest n, and the
    remedy is the initialiser that does most against the decay (:func:`remedy_ranking`); no
    remedy is "not needed" then. Otherwise the one with the largest gradient variance at the largest
    scanned size, unless uniform is within ``factor`` of it (then no remedy is needed at this size and
    uniform keeps the circuit's full expressivity). Returns the initialiser's name and a sentence
    saying why."""
    deepest = max(p.layers for p in result.points)
    largest = max(p.num_qubits for p in result.points)
    cells = result.select(cost=cost, layers=deepest, num_qubits=largest)
    best = max(cells, key=lambda p: p.variance)
    uniform = next((p for p in cells if p.init == "uniform"), None)
    uniform_fit = result.decay(cost, "uniform", deepest) if uniform is not None else None
    if is_plateau(uniform_fit):
        ranked = [(i, f, v) for c, i, f, v in remedy_ranking(result) if c == cost]
        init, fit, variance = ranked[0]
        if init == "uniform":
            return "uniform", (f"the {cost} cost with uniform initialisation is on a barren plateau (variance decays as "
                               f"{uniform_fit.describe()}), and no scanned initialiser slows the decay: scan "
                               "identity_blocks, gaussian or small_angle initialisation"
                               + (", a local cost," if not cost.startswith("local") else "") + " or fewer layers.")
        effect = ("no exponential decay resolved" if not is_plateau(fit) else f"decay {fit.describe()}") if fit else "no decay fitted"
        return init, (f"train with the {cost} cost and {init} initialisation: uniform initialisation is on a barren "
                      f"plateau (variance decays as {uniform_fit.describe()}); {init} gives {effect}, variance "
                      f"{variance:.3g} at n={largest}, depth {deepest}.")
    if uniform is not None and uniform.variance * factor >= best.variance:
        return "uniform", (f"train with the {cost} cost; uniform initialisation is not on a plateau at n={largest}, "
                           f"depth {deepest} (variance {uniform.variance:.3g}, best {best.init} {best.variance:.3g}), "
                           "so no remedy is needed yet.")
    return best.init, f"train with the {cost} cost and {best.init} initialisation (variance {best.variance:.3g})."


def _int_list(text: str) -> list[int]:
    """``"2,4,6"`` or ``"2:10:2"`` (inclusive range)."""
    if ":" in text:
        parts = [int(v) for v in text.split(":")]
        start, stop, step = parts[0], parts[1], parts[2] if len(parts) > 2 else 1
        return list(range(start, stop + 1, step))
    return [int(v) for v in text.split(",")]


def _noise_diagnosis(args, layers):
    """``(points, note, verdict line)`` of the noise scan the command line asks for (a fake backend's
    noise model takes precedence over plain depolarizing), or ``(None, "", None)``."""
    from qfab.qml.noise import fake_backend_noise_scan, fit_noise_rate, fit_noise_rate_per_layer, noise_scan

    cost, samples = args.costs.split(",")[0], min(args.samples, 50)
    if args.fake_backend is not None:
        # Random-axis circuits would put noise on their zero-angle rotations; hardware runs fixed gates.
        ansatz = "hea" if build_ansatz(args.ansatz, 2, 1).random_axes else args.ansatz
        points = fake_backend_noise_scan(ansatz, cost, args.noise_qubits, layers, samples, args.fake_backend, seed=args.seed)
        where = f"{args.fake_backend}'s noise model (qiskit-aer density matrix), {ansatz} ansatz, uniform initialisation"
    elif args.two_qubit_error is not None:
        points = noise_scan(args.ansatz, cost, args.noise_qubits, layers, samples, args.two_qubit_error, seed=args.seed)
        where = f"depolarizing p={args.two_qubit_error} after every two-qubit gate, identity-block initialisation"
    else:
        return None, "", None
    line = (f"Noise ({where}): gradients shrink as exp(-{fit_noise_rate(points):.3g} x two-qubit gates) = "
            f"exp(-{fit_noise_rate_per_layer(points):.3g} x layers) whatever the initialisation (noise-induced "
            "plateau): keep circuits shallow on hardware.")
    return points, f"{cost} cost, n={args.noise_qubits}, {where}.", line


def cli_main(argv: Sequence[str] | None = None) -> int:
    """``qfab plateau``: scan, print the verdict, write ``scan.json`` and an HTML report with PNGs."""
    parser = argparse.ArgumentParser(prog="qfab plateau", description=__doc__.split("\n")[0])
    parser.add_argument("--ansatz", default="mcclean", help="mcclean, hea, alternating, tensor_product, qcnn")
    parser.add_argument("--qubits", default="2:8:2", help="list '2,4,6' or inclusive range '2:8:2'")
    parser.add_argument("--layers", default="2,10,50", help="list or range of depths")
    parser.add_argument("--samples", type=int, default=200, help="random initialisations per point")
    parser.add_argument("--costs", default="local_pauli,global_pauli,global_fidelity,local_fidelity")
    parser.add_argument("--inits", default="uniform,identity_blocks,gaussian",
                        help="uniform, gaussian, small_angle, identity_blocks")
    parser.add_argument("--sigma", type=float, default=None, help="Gaussian sigma (default 1/sqrt(L))")
    parser.add_argument("--parameters", default="0", help="trainable parameter indices, or 'all'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="passed through to qfab (e.g. 'auto' for the planner)")
    parser.add_argument("--two-qubit-error", type=float, default=None,
                        help="also diagnose noise: depolarizing probability after every two-qubit gate")
    parser.add_argument("--noise-qubits", type=int, default=4, help="qubits for the (density-matrix) noise scan")
    parser.add_argument("--fake-backend", default=None,
                        help="also diagnose noise on a Qiskit fake backend's noise model (e.g. FakeManilaV2; needs qiskit-aer)")
    parser.add_argument("--out", default="plateau_report", help="output folder")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    qubits, layers = _int_list(args.qubits), _int_list(args.layers)
    parameters = range(10**6) if args.parameters == "all" else _int_list(args.parameters)
    start = time.perf_counter()
    result = scan(args.ansatz, args.costs.split(","), qubits, layers, args.samples, args.inits.split(","),
                  list(parameters), seed=args.seed, device=args.device, sigma=args.sigma, progress=not args.no_progress)
    elapsed = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scan.json").write_text(result.to_json())
    lines = verdict(result)
    noise_points, noise_note, noise_line = _noise_diagnosis(args, layers)
    if noise_line:
        lines.append(noise_line)
    from qfab.qml.report import write_report

    html = write_report(result, lines, out, title=f"Trainability of {args.ansatz}", elapsed=elapsed,
                        noise_points=noise_points, noise_note=noise_note)
    print("\n".join(lines))
    print(f"scan took {elapsed:.1f} s; report: {html}")
    return 0
