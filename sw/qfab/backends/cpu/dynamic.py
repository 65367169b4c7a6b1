"""Running dynamic circuits (``qfab.core.dynamic``) on the CPU engine by branching on outcomes.

A *branch* is a state vector with its probability, the clbits its measurements wrote so far and,
when sampling, its share of the shots. A unitary segment evolves every branch (the engine's
kernels, in place); a mid-circuit measurement or a reset splits each branch into its two
outcomes, projected and renormalised (a reset then flips the 1 outcome back to 0); an if/else
runs a body on the branches whose clbits meet the condition. The final measurements are drawn
from each branch's last state.

* :func:`dynamic_distribution`: exact outcome probabilities, every branch kept (refused beyond
  ``max_branches``: the branch count doubles with each mid-circuit measurement).
* :func:`dynamic_clbits`: per-shot clbits. Each split hands its branch's shots to the two
  outcomes binomially, and branches left without shots are dropped, so the branches never
  outnumber the shots, and the shots follow exactly the circuit's outcome distribution (the
  trajectories of the shots, drawn together).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qfab.backends.cpu.simulator import CPUEngine
from qfab.backends.job import InsufficientMemoryError, check_free_memory
from qfab.core.dynamic import MAX_ITERATIONS, DynamicCircuit, IfElse, Measure, Reset, Segment, Switch, While

__all__ = ["dynamic_distribution", "dynamic_clbits"]

#: The most branches :func:`dynamic_distribution` keeps (2**12 states).
MAX_BRANCHES = 4096
#: An exact branch less likely than this is dropped (so a while_loop that ends with probability 1
#: ends; the distribution then sums to 1 within the branches dropped).
NEGLIGIBLE = 1e-15


@dataclass
class _Branch:
    state: np.ndarray
    probability: float
    clbits: int
    shots: int | None  # None: exact (every branch kept)


class _Runner:
    def __init__(self, circuit: DynamicCircuit, theta: np.ndarray, rng, max_branches: int):
        self.circuit, self.theta, self.rng, self.max_branches = circuit, theta, rng, max_branches
        self.engine = CPUEngine()
        self.indices = np.arange(2**circuit.num_qubits)

    def steps(self, steps, branches: list[_Branch]) -> list[_Branch]:
        for step in steps:
            if not branches:
                break
            if isinstance(step, Segment):
                self.evolve(step, branches)
            elif isinstance(step, Measure):
                branches = self.split(branches, step.qubit, step.clbit)
            elif isinstance(step, Reset):
                branches = self.split(branches, step.qubit, None)
            elif isinstance(step, IfElse):
                taken = [b for b in branches if self.value(step.clbits, b.clbits) == step.value]
                others = [b for b in branches if self.value(step.clbits, b.clbits) != step.value]
                branches = self.steps(step.true_steps, taken) + self.steps(step.false_steps, others)
            elif isinstance(step, Switch):
                branches = self.switch(step, branches)
            elif isinstance(step, While):
                branches = self.loop(step, branches)
        return branches

    def switch(self, step: Switch, branches: list[_Branch]) -> list[_Branch]:
        """Each branch through the first case its value matches (or the default, or none)."""
        groups = [[] for _ in step.cases]
        out = []
        for branch in branches:
            value = self.value(step.clbits, branch.clbits)
            for group, (values, _) in zip(groups, step.cases):
                if values is None or value in values:
                    group.append(branch)
                    break
            else:
                out.append(branch)
        for group, (_, steps) in zip(groups, step.cases):
            out += self.steps(steps, group)
        return out

    def loop(self, step: While, branches: list[_Branch]) -> list[_Branch]:
        """The body again on every branch whose condition still holds, until none does."""
        done = []
        for _ in range(MAX_ITERATIONS):
            running = [b for b in branches if self.value(step.clbits, b.clbits) == step.value]
            done += [b for b in branches if self.value(step.clbits, b.clbits) != step.value]
            if not running:
                return done
            branches = self.steps(step.body, running)
        raise ValueError(f"a while_loop ran {MAX_ITERATIONS} times on some branch without its condition "
                         "failing; qfab bounds loops at that")

    def evolve(self, segment: Segment, branches: list[_Branch]) -> None:
        states = np.ascontiguousarray(np.stack([b.state for b in branches]))
        thetas = np.repeat(self.theta[list(segment.columns)][None, :], len(branches), axis=0)
        self.engine.evolve(segment.circuit, thetas, states)
        for branch, state in zip(branches, states):
            branch.state = state

    @staticmethod
    def value(bits: tuple[int, ...], clbits: int) -> int:
        """The value of the clbits ``bits`` (least significant first) in a branch's ``clbits``."""
        return sum(((clbits >> bit) & 1) << k for k, bit in enumerate(bits))

    def split(self, branches: list[_Branch], qubit: int, clbit: int | None) -> list[_Branch]:
        """Each branch's two outcomes on ``qubit``; ``clbit`` None: a reset (the 1 outcome is
        flipped back to 0, nothing is recorded)."""
        one = ((self.indices >> qubit) & 1).astype(bool)
        children = []
        for branch in branches:
            weights = np.abs(branch.state) ** 2
            total = float(weights.sum())
            p1 = min(max(float(weights[one].sum()) / total, 0.0), 1.0)
            if branch.shots is None:
                counts = (None, None)
            else:
                ones = int(self.rng.binomial(branch.shots, p1))
                counts = (branch.shots - ones, ones)
            for outcome, p, shots in ((0, 1.0 - p1, counts[0]), (1, p1, counts[1])):
                if p <= 0.0 or shots == 0 or (shots is None and branch.probability * p < NEGLIGIBLE):
                    continue
                state = np.where(one if outcome else ~one, branch.state, 0) / np.sqrt(p * total)
                bits = branch.clbits
                if clbit is None:
                    if outcome:
                        state = state[self.indices ^ (1 << qubit)]  # X on the qubit: back to |0>
                else:
                    bits = (bits & ~(1 << clbit)) | (outcome << clbit)
                children.append(_Branch(state, branch.probability * p, bits, shots))
        if branches and branches[0].shots is None and len(children) > self.max_branches:
            raise InsufficientMemoryError(
                f"the dynamic circuit's exact distribution needs more than {self.max_branches} branches; "
                "sample it (dynamic_clbits) instead")
        n = self.circuit.num_qubits
        check_free_memory(len(children) * 16 * 2**n, "a dynamic circuit",
                          f"{len(children)} branches of {n} qubits (sample fewer shots, or measure fewer "
                          "qubits mid-circuit)")
        return children

    def start(self, shots: int | None) -> list[_Branch]:
        state = np.zeros(2**self.circuit.num_qubits, dtype=np.complex128)
        state[0] = 1.0
        return self.steps(self.circuit.steps, [_Branch(state, 1.0, 0, shots)])

    def final_keys(self, clbits: int) -> np.ndarray:
        """The clbit value of every basis state after the final measurements, from ``clbits``."""
        keys = np.full(len(self.indices), clbits, dtype=np.int64)
        for m in self.circuit.final:
            keys = (keys & ~(1 << m.clbit)) | (((self.indices >> m.qubit) & 1) << m.clbit)
        return keys


def _theta(circuit: DynamicCircuit, theta) -> np.ndarray:
    theta = np.asarray(theta if theta is not None else (), dtype=np.float64).reshape(-1)
    if len(theta) != len(circuit.parameters):
        raise ValueError(f"the dynamic circuit has {len(circuit.parameters)} parameters, {len(theta)} values given")
    return theta


def dynamic_distribution(circuit: DynamicCircuit, theta=None, max_branches: int = MAX_BRANCHES) -> dict[int, float]:
    """Exact probabilities of the clbit values (an integer, clbit 0 least significant)."""
    runner = _Runner(circuit, _theta(circuit, theta), None, max_branches)
    distribution: dict[int, float] = {}
    for branch in runner.start(None):
        weights = np.abs(branch.state) ** 2
        weights *= branch.probability / weights.sum()
        totals = np.bincount(runner.final_keys(branch.clbits), weights=weights)
        for key in np.nonzero(totals)[0]:
            distribution[int(key)] = distribution.get(int(key), 0.0) + float(totals[key])
    return distribution


def dynamic_clbits(circuit: DynamicCircuit, theta, shots: int, rng: np.random.Generator) -> np.ndarray:
    """``(shots, num_clbits)`` bool clbit values of ``shots`` runs, in random order."""
    runner = _Runner(circuit, _theta(circuit, theta), rng, MAX_BRANCHES)
    values = []
    for branch in runner.start(int(shots)):
        weights = np.abs(branch.state) ** 2
        outcomes = rng.choice(len(weights), size=branch.shots, p=weights / weights.sum())
        values.append(runner.final_keys(branch.clbits)[outcomes])
    drawn = np.concatenate(values) if values else np.zeros(0, dtype=np.int64)
    rng.shuffle(drawn)
    return ((drawn[:, None] >> np.arange(circuit.num_clbits)) & 1).astype(bool)
