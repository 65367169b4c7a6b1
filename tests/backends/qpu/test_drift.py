"""QPU calibration drift: the device re-reads its backend's Target between jobs and re-maps a circuit
whose estimated success probability fell, on a fake backend whose Target is changed mid-run."""
import numpy as np
import pytest

pytest.importorskip("qiskit_aer", reason="qiskit-aer simulates the fake backends; it is in the dev extra")
fake_provider = pytest.importorskip("qiskit_ibm_runtime.fake_provider", reason="fake backends: dev extra")

from qiskit.circuit.library import real_amplitudes  # noqa: E402

import qfab  # noqa: E402
from qfab.backends import QPU  # noqa: E402
from qfab.backends.qpu import calibration_snapshot, scale_errors  # noqa: E402
from qfab.scheduling import History  # noqa: E402


def _success_by_hand(mapped, target) -> float:
    """Π(1 - error) over the mapped circuit's instructions and the readout of its final qubits,
    read straight from the Target's properties."""
    product = 1.0
    for instruction in mapped.mapped.data:
        qubits = tuple(mapped.mapped.find_bit(q).index for q in instruction.qubits)
        properties = target[instruction.operation.name].get(qubits)
        product *= 1.0 - (properties.error or 0.0 if properties is not None else 0.0)
    for qubit in mapped.final_layout:
        product *= 1.0 - target["measure"][(qubit,)].error
    return product


@pytest.fixture
def running_qpu():
    """A QPU on FakeLagosV2 that has run one job of a 3-qubit chain circuit."""
    device = QPU(fake_provider.FakeLagosV2(), shots=256, seed=3)
    circuit = qfab.from_qiskit(real_amplitudes(3, reps=1))
    theta = np.random.default_rng(1).normal(size=circuit.num_parameters)
    first = device.estimate(circuit, "ZZI", theta)
    return device, circuit, theta, first


def test_a_drifted_layout_is_remapped_and_the_event_reports_the_success_estimates(running_qpu):
    device, circuit, theta, first = running_qpu
    target = device.backend.target
    before = device.map(circuit)[1]
    assert first.mapping["layout"] == list(before.layout) and not device.events
    used = set(before.layout) | set(before.final_layout)
    scale_errors(target, used, 8.0)
    drifted_by_hand = _success_by_hand(before, target)
    assert drifted_by_hand < 0.95 * before.estimated_success

    second = device.estimate(circuit, "ZZI", theta)
    [event] = device.events
    assert event["kind"] == "qpu_remap" and event["job"] == 1 and event["remapped"]
    assert event["esp_mapped"] == pytest.approx(before.estimated_success)
    assert event["esp_drifted"] == pytest.approx(drifted_by_hand, rel=1e-9)
    after = device.map(circuit)[1]
    assert event["esp_remapped"] == pytest.approx(_success_by_hand(after, target), rel=1e-9)
    assert event["esp_remapped"] > event["esp_drifted"]
    assert event["layout_before"] == list(before.layout) and event["layout_after"] == list(after.layout)
    assert set(after.layout).isdisjoint(used)  # the degraded qubits are left
    assert second.mapping["layout"] == list(after.layout)
    exact = qfab.expectation(real_amplitudes(3, reps=1), "ZZI", theta)
    assert abs(second.expectations[0, 0] - exact) < 0.5  # still the same observable, on other qubits

    device.estimate(circuit, "ZZI", theta)  # nothing changed since: no new event, the mapping kept
    assert len(device.events) == 1 and device.map(circuit)[1] is after


def test_a_small_drift_keeps_the_layout_and_reprices_it(running_qpu):
    device, circuit, theta, _ = running_qpu
    target = device.backend.target
    before = device.map(circuit)[1]
    scale_errors(target, set(before.layout), 1.02)
    snapshot = calibration_snapshot(target)
    assert device.refresh_calibration() == [] and device.events == []
    kept = device.map(circuit)[1]
    assert kept.layout == before.layout and kept.mapped is before.mapped
    assert kept.estimated_success == pytest.approx(_success_by_hand(before, target), rel=1e-9)
    assert before.estimated_success * 0.95 < kept.estimated_success < before.estimated_success
    assert device.expected_error(circuit) == pytest.approx(1 - kept.estimated_success)
    assert calibration_snapshot(target) == snapshot  # reading it changed nothing


def test_drift_tracking_can_be_turned_off_and_bad_thresholds_are_refused():
    device = QPU(fake_provider.FakeManilaV2(), shots=128, seed=1, drift_threshold=None)
    circuit = qfab.from_qiskit(real_amplitudes(2, reps=1))
    device.estimate(circuit, "ZZ", np.zeros(circuit.num_parameters))
    mapped = device.map(circuit)[1]
    scale_errors(device.backend.target, set(mapped.layout), 10.0)
    device.estimate(circuit, "ZZ", np.zeros(circuit.num_parameters))
    assert device.events == [] and device.map(circuit)[1] is mapped
    for threshold in (-0.1, 1.0):
        with pytest.raises(ValueError, match="drift_threshold"):
            QPU(fake_provider.FakeManilaV2(), drift_threshold=threshold)


def test_a_remapping_during_a_run_appears_in_the_run_report(running_qpu, tmp_path):
    device, circuit, theta, _ = running_qpu
    before = device.map(circuit)[1]
    scale_errors(device.backend.target, set(before.layout) | set(before.final_layout), 8.0)
    work = qfab.Workload()
    work.add(circuit, "ZZI", theta[None, :], gradient=False, accuracy=None)
    result = qfab.run(qfab.plan(work, devices=[device], history=History(tmp_path / "h.json")),
                      progress=False, save_history=False)
    [event] = device.events
    [mark] = [m for m in result.marks if m.kind == "device"]
    assert mark.text in result.events and mark.text in result.report()
    assert f"{event['esp_drifted']:.3f}" in mark.text and str(event["layout_after"]) in mark.text
