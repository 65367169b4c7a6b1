"""Published barren-plateau phenomena reproduced on qfab's simulator, checked against exact formulas.

McClean's circuit (RY(pi/4) input, random-axis rotations, CZ ladder) and the 2-design variance
(barren-plateau reference, section 1.1): Var = (1/3) d/(d^2-1) for a traceless Pauli observable and
(1/3)(1-1/d)/(d^2-1) for the global projector. Sample sizes give relative standard errors of the
variance of ~5-8 %; tolerances are three to four of those.
"""
import numpy as np
import pytest

from qfab.qml import ansatz as A
from qfab.qml import costs as C
from qfab.qml import trainability as T
from qfab.qml.init import identity_blocks, uniform


def two_design_pauli(n):
    d = 2**n
    return d / (3 * (d * d - 1))


def two_design_projector(n):
    d = 2**n
    return (1 - 1 / d) / (3 * (d * d - 1))


@pytest.fixture(scope="module")
def deep_mcclean_scan():
    return T.scan("mcclean", ["global_pauli", "global_fidelity"], [2, 4, 6], [30], 600, progress=False, seed=11)


def test_two_design_prediction_formulas():
    assert T.two_design_variance(C.global_pauli_cost(4), 1 / 3) == pytest.approx(two_design_pauli(4))
    assert T.two_design_variance(C.local_pauli_cost(6), 1 / 3) == pytest.approx(two_design_pauli(6))
    assert T.two_design_variance(C.global_fidelity_cost(5), 1 / 3) == pytest.approx(two_design_projector(5))


def test_deep_mcclean_variance_equals_the_2_design_value(deep_mcclean_scan):
    for point in deep_mcclean_scan.points:
        expected = two_design_pauli(point.num_qubits) if point.cost == "global_pauli" else two_design_projector(point.num_qubits)
        assert point.two_design == pytest.approx(expected)
        assert point.variance == pytest.approx(expected, rel=0.3), point


def test_pauli_observable_decays_as_half_to_the_n(deep_mcclean_scan):
    fit = deep_mcclean_scan.decay("global_pauli", "uniform", 30)
    assert 0.42 < fit.base < 0.58


def test_global_projector_decays_as_quarter_to_the_n(deep_mcclean_scan):
    fit = deep_mcclean_scan.decay("global_fidelity", "uniform", 30)
    assert 0.19 < fit.base < 0.31


def test_variance_approaches_the_2_design_value_as_depth_grows():
    n = 4
    result = T.scan("mcclean", ["local_pauli"], [n], [2, 10, 40], 600, progress=False, seed=12)
    distances = [abs(np.log(p.variance / two_design_pauli(n))) for p in sorted(result.points, key=lambda p: p.layers)]
    assert distances[0] > np.log(3)  # shallow: a local observable is far from the 2-design value
    assert distances[0] > distances[1] > distances[2]
    assert distances[2] < np.log(1.3)


def test_identity_blocks_remove_the_decay_with_the_exact_variance():
    """With every block the identity, d<Z0Z1>/dtheta_1 is -1/2 when the first axis is Y and 0 for X
    or Z, so Var = 1/12 - 1/36 = 1/18 for every n (the reference measured 0.056-0.059); for Z^n the
    same argument gives (2/9) 2^-n: identity blocks cure the depth, not a global observable."""
    result = T.scan("mcclean", ["local_pauli", "global_pauli"], [2, 4, 6], [20], 1500, inits=["identity_blocks"],
                    progress=False, seed=13)
    for point in result.select(cost="local_pauli"):
        assert point.variance == pytest.approx(1 / 18, rel=0.1)
    for point in result.select(cost="global_pauli"):
        assert point.variance == pytest.approx(2 / 9 * 2.0 ** -point.num_qubits, rel=0.1)
    assert result.decay("local_pauli", "identity_blocks", 20).interval[0] > 0.9


def test_local_cost_keeps_shallow_gradients_while_global_decays():
    """Cerezo et al. 2021 in McClean's circuit at L = 2: Z0Z1 flat (0.087-0.099 in the reference),
    Z^n decaying about 2^-n."""
    result = T.scan("mcclean", ["local_pauli", "global_pauli"], [2, 4, 6, 8], [2], 800, progress=False, seed=14)
    assert result.decay("local_pauli", "uniform", 2).base > 0.85
    assert result.decay("global_pauli", "uniform", 2).base < 0.65
    for point in result.select(cost="local_pauli"):
        assert 0.07 < point.variance < 0.12


def test_state_based_global_cost_agrees_with_the_expanded_projector():
    ansatz = A.mcclean_random(4, 6)
    expanded = T.sample_gradients(ansatz, C.global_fidelity_cost(4), 50, uniform(), [0, 5], seed=3)[0]
    from_states = T.sample_gradients(ansatz, C.global_fidelity_cost(4, max_expanded_qubits=2), 50, uniform(), [0, 5], seed=3)[0]
    assert np.allclose(expanded, from_states, atol=1e-10)


def test_bootstrap_interval_covers_the_true_variance():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        low, high = T.bootstrap_variance_interval(rng.normal(0, 2.0, 300), rng, resamples=300)
        hits += low <= 4.0 <= high
    assert 0.88 <= hits / 200 <= 0.99


def test_decay_fit_and_saturation_depth_on_known_data():
    fit = T.fit_decay([2, 3, 4, 5], [3 * 0.3**n for n in [2, 3, 4, 5]])
    assert fit.base == pytest.approx(0.3) and fit.prefactor == pytest.approx(3)
    points = [T.VariancePoint("a", "c", "i", 4, L, 100, [0], v, (0.9e-2, 1.1e-2), [v], 0, 0, None, None, None, 0)
              for L, v in [(1, 0.1), (5, 0.03), (10, 0.0105), (20, 0.0098), (40, 0.01)]]
    assert T.saturation_depth(points) == 10


def test_identity_block_init_requires_mirrored_ansatz():
    with pytest.raises(ValueError, match="with_identity_blocks"):
        identity_blocks()(A.hardware_efficient(2, 2), 1, np.random.default_rng(0))


def test_plateau_command_writes_report(tmp_path, capsys):
    code = T.cli_main(["--qubits", "2,3", "--layers", "2,6", "--samples", "60", "--costs", "local_pauli,global_fidelity",
                       "--inits", "uniform,identity_blocks", "--out", str(tmp_path), "--no-progress",
                       "--two-qubit-error", "0.02", "--noise-qubits", "2"])
    assert code == 0
    page = (tmp_path / "index.html").read_text()
    assert "Verdict" in page and "variance_vs_qubits.png" in page and "variance_vs_depth.png" in page
    assert "Noise" in page
    for name in ("variance_vs_qubits.png", "variance_vs_depth.png", "noise.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    import json

    points = json.loads((tmp_path / "scan.json").read_text())
    assert len(points) == 2 * 2 * 2 * 2
    assert "report:" in capsys.readouterr().out


def test_recommendation_keeps_uniform_when_there_is_no_plateau():
    def point(init, variance):
        return T.VariancePoint("a", "c", init, 4, 10, 100, [0], variance, (0, 1), [variance], 0, 0, None, None, None, 0)

    no_plateau = T.ScanResult([point("uniform", 0.05), point("gaussian", 0.1)])
    init, why = T.recommendation(no_plateau, "c")
    assert init == "uniform" and "no remedy is needed" in why
    plateau = T.ScanResult([point("uniform", 1e-4), point("identity_blocks", 0.05)])
    assert T.recommendation(plateau, "c")[0] == "identity_blocks"


def test_digits_experiment_runs_end_to_end(tmp_path):
    from qfab.qml.experiment import digits_experiment

    outcome = digits_experiment(tmp_path, layers=2, epochs=1, samples=40, max_train=200)
    assert (tmp_path / "training.png").exists() and "Digits classifier" in (tmp_path / "index.html").read_text()
    assert set(outcome["accuracies"]) >= {"uniform"}
    assert all(0.0 <= a <= 1.0 for a in outcome["accuracies"].values())


def test_stationary_initial_point_is_flagged_not_fitted():
    """HEA starting with RY on |0...0>, identity blocks and Z observables: every gradient is exactly 0."""
    result = T.scan("hea", ["local_pauli"], [2, 3], [4], 30, inits=["identity_blocks"], progress=False)
    assert all(p.variance < 1e-20 for p in result.points)
    assert result.decay("local_pauli", "identity_blocks", 4) is None
    assert any("stationary point" in line for line in T.verdict(result))


def _decaying(init, base, qubits=range(2, 17, 2), prefactor=1.0, layers=100):
    return [T.VariancePoint("mcclean", "local_pauli", init, n, layers, 500, [0], prefactor * base**n,
                            (0.9 * prefactor * base**n, 1.1 * prefactor * base**n), [prefactor * base**n], 0, 0,
                            None, None, None, 0) for n in qubits]


def test_fitted_exponential_decay_is_a_plateau_whatever_the_variance_at_the_largest_n():
    """Issue 20: the verdict said 'variance decays as 0.609^n: barren plateau' and then 'no remedy is
    needed'. With only uniform scanned, the recommendation must not call it plateau-free."""
    only_uniform = T.ScanResult(_decaying("uniform", 0.609))
    lines = T.verdict(only_uniform)
    assert any("barren plateau" in line for line in lines)
    init, why = T.recommendation(only_uniform, "local_pauli")
    assert init == "uniform" and "no remedy is needed" not in why and "barren plateau" in why
    assert not any("no remedy is needed" in line for line in lines)


def test_remedy_is_ranked_by_its_decay_not_by_the_variance_at_one_point():
    # gaussian has the larger variance at n = 16 but decays faster; identity blocks are flat.
    result = T.ScanResult(_decaying("uniform", 0.609) + _decaying("gaussian", 0.5, prefactor=50.0)
                          + _decaying("identity_blocks", 0.99, prefactor=1e-4))
    assert result.select(init="gaussian", num_qubits=16)[0].variance > result.select(init="identity_blocks", num_qubits=16)[0].variance
    ranking = T.remedy_ranking(result)
    assert [r[1] for r in ranking] == ["identity_blocks", "uniform", "gaussian"]
    init, why = T.recommendation(result, "local_pauli")
    assert init == "identity_blocks" and "barren plateau" in why and "no remedy" not in why
