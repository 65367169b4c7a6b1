"""The FPGA device: the same circuits on cpu and fpga agree within the predicted fixed-point
error; model, Verilator and PYNQ transports return the same bits; faults become errors."""
import numpy as np
import pytest
from hypothesis import given, reject, settings, strategies as st
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector
from qfab_hw import CORE_VERSION, CoreParams, ErrorCode
from qfab_hw.program import Opcode

import qfab
from qfab.backends import DeviceCapabilityError, Job
from qfab.backends.fpga import (FPGADevice, FPGAError, FPGAOverflowError, FPGATimeoutError, ModelTransport,
                               PynqTransport, VerilatorTransport)
from qfab.backends.fpga.driver import CoreRun
from qfab.core.observables import as_pauli_sums
from qfab.core.observables import PauliSum

from tests.support.circuits import hardware_efficient, random_circuits
from tests.support.pynq_standin import PynqStandin

# the build the RTL tests use too; an instruction memory for random circuits' synthesised gates
SIM_PARAMS = CoreParams(max_qubits=8, lanes=1, width=18, program_depth=4096)


def bind(qc, values):
    return qc.assign_parameters(dict(zip(qc.parameters, values)))


def amplitude_tolerance(device, circ):
    """sqrt of 10x the infidelity the fixed-point law predicts, plus an LSB."""
    return float(np.sqrt(10 * device.predicted_infidelity(circ))) + 2.0 ** -(device.params.width - 2)


@given(qc=random_circuits(max_qubits=6, max_gates=25), seed=st.integers(0, 2**16))
def test_statevector_agrees_with_qiskit_within_predicted_error(qc, seed):
    device = FPGADevice("model", SIM_PARAMS)
    values = np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters)
    circ = qfab.from_qiskit(qc)
    try:
        psi = qfab.statevector(circ, values, device=device)
    except DeviceCapabilityError as refusal:  # synthesised multi-controlled gates can outgrow the program memory
        assert "program_depth" in str(refusal)
        reject()
    reference = Statevector(bind(qc, values)).data
    assert np.max(np.abs(psi - reference)) <= amplitude_tolerance(device, circ)


def test_expectations_and_gradients_agree_with_cpu():
    device = FPGADevice("model", SIM_PARAMS)
    qc = hardware_efficient(5, 2)
    qc.rzz(0.3, 0, 4)
    qc.crx(0.2, 1, 3)
    circ = qfab.from_qiskit(qc)
    obs = [SparsePauliOp(["ZIIII", "IXYII", "YYZXI", "IIIII"], [1.0, 0.5, -0.3, 0.2]), SparsePauliOp("XXXXX")]
    values = np.random.default_rng(4).uniform(-np.pi, np.pi, (3, circ.num_parameters))
    tolerance = 4 * amplitude_tolerance(device, circ) * 2.0
    np.testing.assert_allclose(qfab.expectation(circ, obs, values, device=device), qfab.expectation(circ, obs, values), atol=tolerance)
    fpga_grad = qfab.gradient(circ, obs[0], values[0], device=device, method="parameter-shift")
    np.testing.assert_allclose(fpga_grad, qfab.gradient(circ, obs[0], values[0]), atol=4 * tolerance)


def test_a_batch_or_a_whole_gradient_is_one_program():
    transport = ModelTransport(SIM_PARAMS)
    calls = []
    original = transport.execute
    transport.execute = lambda *a: calls.append(1) or original(*a)
    device = FPGADevice(transport)
    circ = qfab.from_qiskit(hardware_efficient(3, 2))
    values = np.random.default_rng(0).uniform(-1, 1, (4, circ.num_parameters))
    qfab.gradient(circ, SparsePauliOp("ZZZ"), values, device=device, method="parameter-shift")
    assert len(calls) == 1


def test_global_phase_and_synthesised_gates_match_qiskit():
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.ccx(0, 1, 2)
    qc.iswap(0, 2)
    qc.global_phase = 0.7
    device = FPGADevice("model", SIM_PARAMS)
    circ = qfab.from_qiskit(qc)
    np.testing.assert_allclose(qfab.statevector(circ, device=device), Statevector(qc).data, atol=amplitude_tolerance(device, circ))


def test_refusals_before_running():
    device = FPGADevice("model", SIM_PARAMS)
    big = qfab.from_qiskit(hardware_efficient(9, 1))
    with pytest.raises(DeviceCapabilityError, match="at most 8 qubits; the circuit has 9"):
        qfab.statevector(big, np.zeros(big.num_parameters), device=device)
    small = qfab.from_qiskit(hardware_efficient(2, 1))
    with pytest.raises(DeviceCapabilityError, match="cannot compute gradients by 'adjoint'"):
        qfab.gradient(small, SparsePauliOp("ZZ"), np.zeros(4), device=device, method="adjoint")


class FlagTransport(ModelTransport):
    """The model, with the STATUS flags a faulty run would set."""

    def __init__(self, params, error=ErrorCode.NONE, overflow=False):
        super().__init__(params)
        self.flags = (error, overflow)

    def execute(self, words, beats_expected, timeout_s):
        run = super().execute(words, beats_expected, timeout_s)
        return CoreRun(run.beats, self.flags[0], self.flags[1], run.cycles)


def test_core_flags_become_errors_naming_the_circuit():
    circ = qfab.from_qiskit(hardware_efficient(2, 1))
    job = Job(circ, np.zeros((1, 4)), want_state=True)
    with pytest.raises(FPGAOverflowError, match=r"overflow .*qfab.Circuit\(num_qubits=2"):
        FPGADevice(FlagTransport(SIM_PARAMS, overflow=True)).run([job])
    with pytest.raises(FPGAError, match="error NO_STATE"):
        FPGADevice(FlagTransport(SIM_PARAMS, error=ErrorCode.NO_STATE)).run([job])


def test_fpga_errors_are_device_errors_of_the_families():
    """``except qfab.errors.DeviceError`` (and ``QfabError``, which the CLI prints as one line)
    catches every FPGA failure; ``except RuntimeError`` keeps working."""
    from qfab.errors import DeviceError, QfabError

    for cls in (FPGAError, FPGAOverflowError, FPGATimeoutError):
        assert issubclass(cls, DeviceError) and issubclass(cls, QfabError) and issubclass(cls, RuntimeError)
    assert issubclass(FPGAOverflowError, FPGAError) and issubclass(FPGATimeoutError, FPGAError)
    circ = qfab.from_qiskit(hardware_efficient(2, 1))
    job = Job(circ, np.zeros((1, 4)), want_state=True)
    with pytest.raises(DeviceError, match="error NO_STATE"):
        FPGADevice(FlagTransport(SIM_PARAMS, error=ErrorCode.NO_STATE)).run([job])


def test_observable_groups_share_a_pass():
    from qfab.backends.fpga.compiler import measurement_groups

    sums = [PauliSum.from_sparse_pauli_op(SparsePauliOp(["ZZI", "IZZ", "XII", "IXX"]))]
    groups = measurement_groups(sums, 3)
    assert [sorted(basis.items()) for basis, _ in groups] == [[(0, "Z"), (1, "Z"), (2, "Z")], [(0, "X"), (1, "X"), (2, "X")]]


# ----------------------------------------------------------------------------- RTL paths

verilator = [pytest.mark.verilator, pytest.mark.xdist_group("verilator")]


def built_transport(params: CoreParams) -> VerilatorTransport:
    transport = VerilatorTransport(params)
    transport.build_dir()
    return transport


@pytest.fixture(scope="module")
def rtl():
    return built_transport(SIM_PARAMS)


@pytest.mark.verilator
@pytest.mark.xdist_group("verilator")
@settings(max_examples=4)
@given(qc=random_circuits(min_qubits=1, max_qubits=4, max_gates=12), seed=st.integers(0, 2**16))
def test_verilator_returns_the_models_bits(rtl, qc, seed):
    circ = qfab.from_qiskit(qc)
    values = np.random.default_rng(seed).uniform(-np.pi, np.pi, (2, circ.num_parameters))
    model = qfab.statevector(circ, values, device=FPGADevice("model", SIM_PARAMS))
    simulated = qfab.statevector(circ, values, device=FPGADevice(rtl))
    assert np.array_equal(model, simulated)


#: sim/'s "adjoint" build (bank B): the same parameters share one Verilator build.
ADJOINT_SIM_PARAMS = CoreParams(max_qubits=6, lanes=2, width=18, adjoint=True)


@pytest.fixture(scope="module")
def rtl_adjoint():
    return built_transport(ADJOINT_SIM_PARAMS)


@pytest.mark.verilator
@pytest.mark.xdist_group("verilator")
@settings(max_examples=3, deadline=None)
@given(qc=random_circuits(min_qubits=2, max_qubits=4, max_gates=10), seed=st.integers(0, 2**16))
def test_verilator_gradients_are_the_models_bits(rtl_adjoint, qc, seed):
    """Both on-chip gradients through the RTL (RUN_ADJOINT, RUN_SHIFT) give the model's bits."""
    circ = qfab.from_qiskit(qc)
    if circ.num_parameters == 0:
        reject()
    values = np.random.default_rng(seed).uniform(-np.pi, np.pi, (2, circ.num_parameters))
    obs = SparsePauliOp(["Z" + "I" * (qc.num_qubits - 1), "X" * qc.num_qubits], [0.8, -0.3])
    for method in ("adjoint", "parameter-shift"):
        try:
            model = qfab.gradient(circ, obs, values, device=FPGADevice("model", ADJOINT_SIM_PARAMS), method=method)
        except DeviceCapabilityError as refusal:  # synthesised multi-controlled gates can outgrow the program memory
            assert "program_depth" in str(refusal)
            with pytest.raises(DeviceCapabilityError, match="program_depth"):  # the RTL's driver refuses alike
                qfab.gradient(circ, obs, values, device=FPGADevice(rtl_adjoint), method=method)
            reject()
        simulated = qfab.gradient(circ, obs, values, device=FPGADevice(rtl_adjoint), method=method)
        assert np.array_equal(model, simulated), method


class CorruptingVerilator(VerilatorTransport):
    """The RTL given a malformed program: the first gate's target raised past n."""

    def execute(self, words, beats_expected, timeout_s):
        from qfab_hw.program import TARGET_SHIFT

        words = [int(w) for w in words]
        gate = next(i for i, w in enumerate(words) if w & 0xFF == Opcode.GATE_X)
        words[gate] |= 0x3F << TARGET_SHIFT
        return super().execute(words, beats_expected, timeout_s)


@pytest.mark.verilator
@pytest.mark.xdist_group("verilator")
def test_verilator_returns_the_cores_error_at_once():
    """A program the core rejects comes back with the core's error code as soon as the core
    stops, not after the transport's timeout."""
    import time

    device = FPGADevice(CorruptingVerilator(ADJOINT_SIM_PARAMS), timeout_s=300)
    qc = QuantumCircuit(2)
    qc.x(0)
    start = time.monotonic()
    with pytest.raises(FPGAError, match="rejected the program .* error BAD_TARGET"):
        qfab.statevector(qfab.from_qiskit(qc), [], device=device)
    assert time.monotonic() - start < 60


@pytest.fixture
def sim_manifest(tmp_path):
    """A manifest listing an overlay of the simulated build, as `make bitstream` would write it."""
    from qfab_hw.bitstream import Overlay, overlay_name, write_manifest

    name = overlay_name("pynq-z2", SIM_PARAMS)
    overlay = Overlay(name, "pynq-z2", SIM_PARAMS.max_qubits, SIM_PARAMS.lanes, SIM_PARAMS.width, CORE_VERSION,
                      f"{name}.bit", f"{name}.hwh", built=False, max_params=SIM_PARAMS.max_params,
                      param_depth=SIM_PARAMS.param_depth, program_depth=SIM_PARAMS.program_depth)
    write_manifest([overlay], tmp_path / "manifest.toml")
    return tmp_path / "manifest.toml"


@pytest.mark.verilator
@pytest.mark.xdist_group("verilator")
def test_pynq_transport_on_the_rtl_returns_the_models_bits(rtl, sim_manifest):
    standin = PynqStandin(rtl)
    transport = PynqTransport("pynq-z2", manifest=sim_manifest, pynq_module=standin)
    device = FPGADevice(transport)
    qc = hardware_efficient(3, 2)
    circ = qfab.from_qiskit(qc)
    values = np.random.default_rng(1).uniform(-np.pi, np.pi, (2, circ.num_parameters))
    obs = SparsePauliOp(["ZIZ", "XXI"], [0.7, -0.4])
    model = FPGADevice("model", SIM_PARAMS)
    assert np.array_equal(qfab.expectation(circ, obs, values, device=device), qfab.expectation(circ, obs, values, device=model))
    assert standin.loaded and standin.loaded[0].endswith(".bit") and standin.runs == 1
    assert device.last_cycles == model.last_cycles > 0


@pytest.mark.verilator
@pytest.mark.xdist_group("verilator")
def test_pynq_dma_that_never_completes_times_out(rtl, sim_manifest):
    standin = PynqStandin(rtl, hang=True)
    device = FPGADevice(PynqTransport("pynq-z2", manifest=sim_manifest, pynq_module=standin), timeout_s=0.5)
    circ = qfab.from_qiskit(hardware_efficient(2, 1))
    with pytest.raises(FPGATimeoutError, match="DMA receive"):
        qfab.statevector(circ, np.zeros(4), device=device)


def test_pynq_refuses_missing_and_mismatched_overlays():
    with pytest.raises(FPGAError, match="no overlay for board 'zedboard'"):
        PynqTransport("zedboard", pynq_module=PynqStandin(ModelTransport(SIM_PARAMS)))
    wrong = PynqStandin(ModelTransport(SIM_PARAMS), reported_params=CoreParams(max_qubits=10, lanes=2, width=16))
    with pytest.raises(FPGAError, match="wrong or stale overlay"):
        PynqTransport("pynq-z2", pynq_module=wrong)
    with pytest.raises(FPGAError, match="needs the `pynq` package"):
        PynqTransport("pynq-z2")


def test_pynq_reads_the_build_from_build_and_build2_and_refuses_an_old_core(sim_manifest):
    """BUILD2's memories and bank B come through (an adjoint build offers RUN_ADJOINT); a core
    of another version (a v1 overlay has no BUILD2 and no on-chip gradients) is refused."""
    standin = PynqStandin(ModelTransport(SIM_PARAMS))
    device = FPGADevice(PynqTransport("pynq-z2", manifest=sim_manifest, pynq_module=standin))
    assert device.params == SIM_PARAMS
    old = PynqStandin(ModelTransport(SIM_PARAMS), reported_build=SIM_PARAMS.build_word & 0x00FF_FFFF | 1 << 24)
    with pytest.raises(FPGAError, match="core version 1; this qfab drives version 2"):
        PynqTransport("pynq-z2", manifest=sim_manifest, pynq_module=old)


@settings(max_examples=15, deadline=None)
@given(qc=random_circuits(max_qubits=5, max_gates=20), batch=st.integers(1, 3), gradient=st.booleans(),
       lanes=st.sampled_from([1, 2]))
def test_program_counts_equal_the_cores_cycles_words_and_beats(qc, batch, gradient, lanes):
    """The planner's and the co-design's counts, from the closed form, match what the core counted."""
    circ = qfab.from_qiskit(qc)
    if circ.num_qubits < 2:
        return
    device = FPGADevice("model", CoreParams(max_qubits=6, lanes=lanes, width=18, program_depth=4096))
    sums = tuple(as_pauli_sums("Z" * circ.num_qubits, circ.num_qubits)[0])
    values = np.random.default_rng(batch).uniform(0.1, 3.0, (batch, circ.num_parameters))
    job = Job(circ, values, sums, gradient="parameter-shift" if gradient and circ.num_parameters else None)
    predicted = device.program_counts(job)
    device.run([job])
    assert predicted == (device.last_cycles, device.last_words, device.last_beats)


def test_expectation_error_law_bounds_measured_errors():
    """rms error of <Z> within a factor 2 of 0.6·sqrt(passes)·2^-F, and the 3-sigma bound (99.7 %
    of results) exceeded by at most one of the 60."""
    from qfab.qml.ansatz import build_ansatz

    for width in (14, 18):
        circ = qfab.from_qiskit(build_ansatz("hea", 6, 3).qiskit_circuit)
        device = FPGADevice("model", CoreParams(max_qubits=6, lanes=1, width=width))
        values = np.random.default_rng(width).uniform(0, 2 * np.pi, (60, circ.num_parameters))
        errors = (qfab.expectation(circ, "ZIIIII", values, device=device) - qfab.expectation(circ, "ZIIIII", values)).ravel()
        rms = float(np.sqrt(np.mean(errors**2)))
        law = device.predicted_error(circ) / 3
        assert law / 2 < rms < 2 * law
        assert np.count_nonzero(np.abs(errors) >= device.predicted_error(circ)) <= 1
