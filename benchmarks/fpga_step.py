"""Host seconds the FPGA driver spends per training step, v1 against v2, with words and core cycles.

    .venv/bin/python benchmarks/fpga_step.py [--qubits 8] [--layers 2] [--sets 16] [--repeats 20]
                                             [--closed-form] [--profile] [--boards]

Step: the values and gradients of <Z_0> for B parameter sets of the benchmark ansatz
(``workload.qiskit_ansatz``: RY, RZ per qubit and a CX ladder per layer; 8 qubits x 2 layers is
P = 32), on a new ``Circuit`` object every step, as a training loop that rebuilds its circuit
has it. Driver time is what the host does per step, the core's own run aside:

* v1 (every set and every shifted angle bound on the host): ``shift_plan`` of the circuit,
  lowering its angle circuit (v1 cached both on the circuit object), binding the
  ``B x (1 + 2R)`` circuits into words (``driver.expectation_program``), decoding the beats and
  the shift rule's contraction;
* v2 (stored program, parameters per call): ``FPGADevice.run`` of the job (check, the caches by
  structure, LOAD_PARAMS packing, run headers, decoding) on a transport that answers with the
  beats the core model gave for the same words.

Words are what the host sends per step (v2: the first step, which stores the program, and the
steps after it, with the program resident); cycles are the core model's CYCLES register for the
step (``--closed-form``: the closed forms the model is tested against, without running it; a
v2 RUN_SHIFT step of the 8-qubit ansatz takes the model about 20 s).

``--boards`` adds the step as every board in board_configs/ would run it (lanes 1, 2, 8; the
adjoint build where its second bank fits, ``boards.largest_state``): the cost model's
(``BoardFPGA``, ``FPGACostModel.breakdown``) core, link and driver seconds -- core: the cycles
at the PL clock; link: the assumed DMA round trip per call (``BOARD_CALL_OVERHEAD_S``) plus the
words and beats over the HP port; driver: this host's measured per-call and per-word time
(``calibration.driver_cost``) scaled by ``PS_SLOWDOWN`` -- and the driver's share of the step,
against v1 on the same board (v1's cycles, its words over the link, the v1 host time measured
above scaled alike), and the goals: a driver share of at most 10 % everywhere, an adjoint step
of at most 1 ms on a Zynq UltraScale+ board with 8 lanes.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from qfab_hw import CoreModel, CoreParams, ErrorCode
from qfab_hw.model.cycles import instruction_cycles
from qfab_hw.program import decode_program

import qfab
from qfab.backends import Job
from qfab.backends.fpga import FPGADevice, Transport, driver
from qfab.backends.fpga.compiler import lower
from qfab.backends.fpga.driver import CoreRun
from qfab.core.observables import as_pauli_sums
from qfab.core.shift import shift_plan

sys.path.insert(0, str(Path(__file__).parent))
from workload import qiskit_ansatz  # noqa: E402


class ReplayTransport(Transport):
    """Answers every call with the beats of one recorded run, instantly: the driver's host time
    without the core's. Records the words it was sent."""

    name = "replay"

    def __init__(self, params: CoreParams, run: CoreRun):
        self.params, self.run, self.sent = params, run, []

    def execute(self, words, beats_expected, timeout_s) -> CoreRun:
        self.sent.append(len(words))
        return self.run


def core_run(params: CoreParams, words, closed_form_cycles: int, closed_form: bool, beats: int) -> CoreRun:
    """The core model's run of ``words`` (its beats and CYCLES), or zero beats and the closed form;
    the beats as a uint64 array, as a DMA receive buffer holds them."""
    if closed_form:
        return CoreRun(np.zeros(beats, dtype=np.uint64), ErrorCode.NONE, False, closed_form_cycles)
    result = CoreModel(params).run(np.asarray(words, dtype=np.uint64).tolist())
    assert result.error == ErrorCode.NONE and len(result.beats) == beats
    assert result.cycles == closed_form_cycles, (result.cycles, closed_form_cycles)
    return CoreRun(np.asarray(result.beats, dtype=np.uint64), result.error, result.overflow, result.cycles)


def median_seconds(step, circuits) -> float:
    times = []
    for circuit in circuits:
        start = time.perf_counter()
        step(circuit)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def v1_step(circuit, sums, thetas, params, beats):
    """The v1 driver's host work for one step: every shifted circuit bound, then decoded."""
    plan = shift_plan(circuit)
    program = driver.expectation_program(lower(plan.circuit), sums, plan.rows(thetas, unshifted=True), params)
    values = program.decode(beats).reshape(len(thetas), 1 + plan.num_shifted, len(sums))
    return values[:, 0], plan.gradients(values[:, 1:])


def v1_row(qc, sums, thetas, params, args):
    plan = shift_plan(qfab.from_qiskit(qc))
    program = driver.expectation_program(lower(plan.circuit), sums, plan.rows(thetas, unshifted=True), params)
    n = max(qc.num_qubits, params.min_qubits)
    cycles = sum(instruction_cycles(i.opcode, n, params) for i in decode_program(program.words, params.width))
    run = core_run(params, program.words, cycles, args.closed_form, program.beats_expected)
    circuits = [qfab.from_qiskit(qc) for _ in range(args.repeats)]
    seconds = median_seconds(lambda c: v1_step(c, sums, thetas, params, run.beats), circuits)
    words = len(program.words)
    return ["v1 parameter shift (host-bound circuits)", words, words, program.beats_expected, run.cycles, seconds]


def v2_row(qc, sums, thetas, params, method, args):
    circuit = qfab.from_qiskit(qc)
    job = Job(circuit, thetas, sums, gradient=method)
    lowered = driver.lowered(circuit)
    first = driver.call_counts(lowered, job, params, resident=False)
    resident = driver.call_counts(lowered, job, params, resident=True)
    plan = driver.call_plan(lowered, job, params)
    words = driver.call_words(plan, plan.slot_values(thetas, lowered)).words
    run = core_run(params, words, first.cycles, args.closed_form, first.beats)
    transport = ReplayTransport(params, run)
    device = FPGADevice(transport)
    device.run([job])  # stores the program: the steps after it find it resident
    steps = [qfab.from_qiskit(qc) for _ in range(args.repeats)]
    seconds = median_seconds(lambda c: device.run([Job(c, thetas, sums, gradient=method)]), steps)
    assert transport.sent[0] == first.words and set(transport.sent[1:]) == {resident.words}
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(lambda: [device.run([Job(c, thetas, sums, gradient=method)]) for c in steps])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(12)
    name = {"parameter-shift": "v2 RUN_SHIFT (on-chip shift rule)",
            "adjoint": "v2 RUN_ADJOINT (on-chip adjoint)"}[method]
    return [name, first.words, resident.words, first.beats, run.cycles - first.cycles + resident.cycles, seconds]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=8)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--sets", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--closed-form", action="store_true", help="cycles from the closed forms, not the model")
    parser.add_argument("--profile", action="store_true", help="cProfile of the v2 steps")
    parser.add_argument("--boards", action="store_true", help="the step priced on every board config, v1 vs v2")
    args = parser.parse_args(argv)
    n = args.qubits
    qc = qiskit_ansatz(n, args.layers)
    params = CoreParams(max_qubits=n, lanes=1, width=18, adjoint=True)
    sums = tuple(as_pauli_sums("I" * (n - 1) + "Z", n)[0])
    thetas = np.random.default_rng(0).uniform(-np.pi, np.pi, (args.sets, qc.num_parameters))
    rows = [v1_row(qc, sums, thetas, params, args)]
    for method in ("parameter-shift", "adjoint"):
        rows.append(v2_row(qc, sums, thetas, params, method, args))
        print(rows[-1], file=sys.stderr)
    goal = 1000 + args.sets * qc.num_parameters
    print(f"{n} qubits x {args.layers} layers, P = {qc.num_parameters}, B = {args.sets}, <Z_0>, build {params}; "
          f"goal: <= 1,000 + B*P = {goal:,} host words per step")
    header = ["path", "words (first step)", "words per step", "beats per step", "core cycles per step",
              "driver ms per step"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name, first, words, beats, cycles, seconds in rows:
        print(f"| {name} | {first:,} | {words:,} | {beats:,} | {cycles:,} | {seconds * 1e3:.2f} |")
    if args.boards:
        print()
        print(board_table(qc, sums, thetas, v1_host_seconds=rows[0][-1]))


def board_table(qc, sums, thetas, v1_host_seconds: float, lanes=(1, 2, 8)) -> str:
    """The step on every board config: words, the cost model's core / link / driver seconds and
    the driver's share (v2, program resident), v1's predicted step on the same board, and
    whether the goals are met."""
    from qfab_hw.boards import board_keys, largest_state, load_board

    from qfab.backends.fpga.board import BoardFPGA
    from qfab.backends.fpga.calibration import driver_cost
    from qfab.backends.fpga.costmodel import BOARD_CALL_OVERHEAD_S, PS_SLOWDOWN, DriverCost

    n = qc.num_qubits
    circuit = qfab.from_qiskit(qc)
    plan = shift_plan(circuit)
    header = ["board", "lanes", "gradient", "words / step (first)", "beats", "core ms", "link ms", "driver ms",
              "driver share", "v2 step ms", "v1 step ms", "v1 / v2"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    costs, shares, adjoint_steps = {}, [], []
    for key in board_keys():
        board = load_board(key)
        for count in lanes:
            v1_params = CoreParams(max_qubits=n, lanes=count, width=18)
            v1 = driver.expectation_program(lower(plan.circuit), sums, plan.rows(thetas, unshifted=True), v1_params)
            v1_cycles = sum(instruction_cycles(i.opcode, n, v1_params) for i in decode_program(v1.words, 18))
            # v1 on the board, priced alike: its whole host time per step as the driver's per call
            v1_device = BoardFPGA(board, v1_params, DriverCost(call_s=v1_host_seconds))
            v1_seconds = sum(v1_device.cost_model().parts(v1_cycles, len(v1.words) + v1.beats_expected).values())
            for method in ("parameter-shift", "adjoint"):
                adjoint = method == "adjoint"
                if adjoint and largest_state(board, count, 18, adjoint=True) < n:
                    lines.append(f"| {key} | {count} | adjoint | second bank does not fit |" + " |" * 8)
                    continue
                params = CoreParams(max_qubits=n, lanes=count, width=18, adjoint=adjoint)
                job = Job(circuit, thetas, sums, gradient=method)
                if method not in costs:  # the driver's host cost: per call and per word, at this size
                    costs[method] = driver_cost(job, params, FPGADevice)
                device = BoardFPGA(board, params, costs[method])
                parts = device.breakdown(job)
                step = sum(parts.values())
                _, words, beats = device.program_counts(job, resident=True)
                first = device.program_counts(job, resident=False)[1]
                name = "RUN_ADJOINT" if adjoint else "RUN_SHIFT"
                shares.append((parts["driver_s"] / step, key, count, name))
                if adjoint and count == 8 and board.ps == "zynq_ultra_ps_e":
                    adjoint_steps.append((step, key))
                lines.append(f"| {key} | {count} | {name} | {words:,} ({first:,}) | {beats:,} | "
                             f"{parts['core_s'] * 1e3:.3f} | {parts['link_s'] * 1e3:.3f} | {parts['driver_s'] * 1e3:.3f} | "
                             f"{parts['driver_s'] / step:.1%} | {step * 1e3:.3f} | {v1_seconds * 1e3:.1f} | "
                             f"{v1_seconds / step:.0f}x |")
    notes = ", ".join(f"{m}: {c.call_s * 1e6:.1f} us per call + {c.word_s * 1e9:.1f} ns per word"
                      for m, c in costs.items())
    share, *where = max(shares)
    goals = [f"driver share at most {share:.1%} ({' '.join(map(str, where))}; goal <= 10 %: "
             f"{'met' if share <= 0.10 else 'NOT met'})"]
    if adjoint_steps:
        slowest, board_key = max(adjoint_steps)
        goals.append(f"RUN_ADJOINT on Zynq UltraScale+ with 8 lanes at most {slowest * 1e3:.3f} ms ({board_key}; "
                     f"goal <= 1 ms: {'met' if slowest <= 1e-3 else 'NOT met'})")
    return (f"v2 driver on this host ({notes}); v1 driver on this host {v1_host_seconds * 1e3:.1f} ms per step; "
            f"board processor x{PS_SLOWDOWN} (driver ms); link ms: the DMA round trip "
            f"{BOARD_CALL_OVERHEAD_S * 1e6:.0f} us per call plus 8 B per word and beat over the HP port\n\n"
            + "\n".join(lines) + "\n\nGoals: " + "; ".join(goals) + ".")


if __name__ == "__main__":
    main()
