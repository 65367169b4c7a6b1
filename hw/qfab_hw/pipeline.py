"""Sequencer and datapath: runs gate programs from a word stream on the on-chip state.

One instruction at a time: fetch the header (and its payload words), then make one pass over
the state (a gate, INIT's clear, a readout) and, for gates, drain the pipeline so the next
instruction reads the written state. Every step's duration is fixed by the state size, which
gives the closed-form cycle counts of :mod:`qfab_hw.model.cycles`.

Instruction set v2 (hw/README.md, "Instruction set v2"): the words come from an *instruction
source*, the input stream or, during RUN, the instruction memory (:mod:`qfab_hw.program_memory`),
which fetches one word per clock like a stall-free stream, so a replayed instruction costs what
the same streamed instruction costs. The FSM's states:

* ``IDLE``; ``FETCH``: one header from the source (decoder: fields, error, v2 context checks);
* v1: ``COEFFICIENTS`` (GATE_U/GATE_DIAG payload), ``GATE`` + ``GATE_DRAIN`` (a lane pass),
  ``CLEAR`` (INIT), ``LOAD``, ``STREAM`` (READ_STATE/READ_PROBS), ``REDUCE`` + ``REDUCE_DRAIN``
  + ``REDUCE_RESULT`` (READ_EXPZ), ``SKIP`` (the rest of a malformed packet);
* ``LOAD_PARAMS``: its payload into the parameter memory (:mod:`qfab_hw.param_memory`);
* ``STORE``: a PROGRAM body into the instruction memory, each stored header checked;
* ``ROT_AFFINE`` (GATE_ROT's payload) + ``ROT_SETUP`` (parameter read, the rotation unit
  :mod:`qfab_hw.rotation`, coefficient load), then ``GATE`` as for GATE_U;
* ``OBS_WEIGHT`` (OBS's payload), ``REDUCE`` (the term's pass) + ``OBS_DRAIN`` (the weight MAC of
  :mod:`qfab_hw.observable`);
* ``VALUE``: the value beat at a replay's END (programs with OBS terms).

RUN's replay loop: the RUN header sets the set range and restarts the fetch at address 0; each
stored END either restarts it for the next set (the set's base index s*P advancing by P) or
returns to the stream.

RUN_SHIFT (``model/shift.py``) drives the same replay: a forward replay (the set's value, kept in
``set_value``), then per GATE_ROT occurrence r and shift term k a replay in which only the r-th
GATE_ROT gets the shift-rule table's sigma_k in the rotation unit; at each shifted replay's END
the gradient unit takes W_k * C_rk (``SHIFT_MAC``), after an occurrence's last term it adds
g_r into grad[i_r] (``GRAD_UPDATE``), and after the last occurrence it streams the set's 1 + P
beats (``GRADS``). Stored readouts are skipped (one cycle each) in both gradient modes.

RUN_ADJOINT (``model/adjoint.py``, builds with ``params.adjoint``): the forward replay on bank A,
its OBS passes also writing lambda = O psi / 2**k into bank B (:mod:`qfab_hw.lambda_prep`); then
the backward sweep jumps to each gate from the last (the instruction memory's gate table), sets
the gate's coefficients up as in the forward replay, and makes two back-to-back passes with U-dagger
(:mod:`qfab_hw.inverse`): over bank A, whose pairs the adjoint reducer also takes with lambda's
pairs at the same addresses (Im<lambda|G|psi> at the cut after the gate, before its write-back),
then over bank B; a rotation's gradient update is issued in the gate's last drain cycle (the fused
schedule: the reduction costs no cycles). ``GRAD_EMIT`` starts the beats ``GRAD_EMIT_CYCLES``
after the last update (RUN_SHIFT's last occurrence goes through it too).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.address_gen import AddressGenerator
from qfab_hw.adjoint_reducer import AdjointReducer
from qfab_hw.decoder import InstructionDecoder, header_fields
from qfab_hw.gate_lane import GateLane
from qfab_hw.gradient_memory import GradientUnit, ShiftRuleTable
from qfab_hw.inverse import InverseCoefficients
from qfab_hw.lambda_prep import LambdaPrep
from qfab_hw.layouts import BEAT_LAYOUT, complex_layout
from qfab_hw.model.gate_lane import LaneOp
from qfab_hw.observable import ObservableUnit
from qfab_hw.param_memory import FIELD_BITS, ParameterMemory
from qfab_hw.params import (
    ANGLE_WORD_BITS,
    GATE_DRAIN_CYCLES,
    GRAD_EMIT_CYCLES,
    GRAD_PRODUCT_LATENCY,
    GRAD_UPDATE_CYCLES,
    MEMORY_READ_LATENCY,
    OBS_DRAIN_CYCLES,
    PARAM_READ_LATENCY,
    REDUCE_DRAIN_CYCLES,
    CoreParams,
)
from qfab_hw.program import RUN_OPCODES, ErrorCode, Opcode, RotationKind
from qfab_hw.program_memory import ProgramMemory
from qfab_hw.readout import ZStringReducer, amplitude_beat, squared_magnitude
from qfab_hw.rotation import RotationUnit
from qfab_hw.state_banks import StateBanks

CYCLE_COUNTER_BITS = 48


class QfabPipeline(wiring.Component):
    """Program words in (``i``), result beats out (``o``), status for the register file.

    ``start`` begins a run (clearing DONE, the error code, OVERFLOW and CYCLES); the run ends
    at END, or at a malformed instruction after discarding the rest of its packet (to TLAST).
    """

    def __init__(self, params: CoreParams, *, blackbox_memory: bool = False):
        self.params = params
        self.blackbox_memory = blackbox_memory
        super().__init__(
            {
                "i": In(stream.Signature(BEAT_LAYOUT)),
                "o": Out(stream.Signature(BEAT_LAYOUT)),
                "start": In(1),
                "busy": Out(1),
                "done": Out(1),
                "overflow": Out(1),
                "error": Out(ErrorCode),
                "cycles": Out(CYCLE_COUNTER_BITS),
                "n_qubits": Out(range(params.max_qubits + 1)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        params = self.params
        lanes, banks, width = params.lanes, params.banks, params.width
        cplx = complex_layout(width)

        m.submodules.decoder = decoder = InstructionDecoder(params)
        m.submodules.addresses = addresses = AddressGenerator(params)
        m.submodules.memory = memory = StateBanks(params, blackbox=self.blackbox_memory)
        m.submodules.reducer = reducer = ZStringReducer(params)
        m.submodules.parameters = parameters = ParameterMemory(params)
        m.submodules.program = program = ProgramMemory(params)
        m.submodules.rotation = rotation = RotationUnit(params)
        m.submodules.observable = observable = ObservableUnit(params)
        m.submodules.gradients = gradients = GradientUnit(params)
        m.submodules.shift_rule = shift_rule = ShiftRuleTable()
        if params.adjoint:
            m.submodules.adjoint_reducer = adjoint_reducer = AdjointReducer(params)
            m.submodules.lambda_prep = lambda_prep = LambdaPrep(params)
            m.submodules.inverse = inverse = InverseCoefficients(width)
        gate_lanes = []
        for lane in range(lanes):
            gate_lane = GateLane(width)
            m.submodules[f"lane{lane}"] = gate_lane
            gate_lanes.append(gate_lane)

        # The instruction source: the input stream, or the instruction memory during RUN.
        replaying = Signal()
        source_ready = Signal()  # the FSM takes a word this clock if one is there
        word = Signal(64)
        word_last = Signal()  # TLAST of a streamed word
        accept = Signal()  # a word is consumed this clock
        m.d.comb += [
            word.eq(Mux(replaying, program.fetch_word, self.i.payload.data)),
            word_last.eq(~replaying & self.i.payload.last),
            self.i.ready.eq(source_ready & ~replaying),
            program.fetch_advance.eq(source_ready & replaying),
            accept.eq(source_ready & (replaying | self.i.valid)),
        ]

        # The decoder checks a streamed header, or a stored one while storing (against the
        # body's n and the record so far); a replayed header was checked when it was stored, so
        # the fetched word reaches only the FSM (`header`), never the checks.
        storing = Signal()  # STORE, and the next body word is a header
        header = header_fields(word)
        m.d.comb += [
            decoder.word.eq(self.i.payload.data),
            decoder.n_qubits.eq(Mux(storing, program.n_qubits, self.n_qubits)),
            decoder.storing.eq(storing),
            decoder.words_left.eq(program.words_left),
            decoder.started.eq(program.started),
            decoder.observing.eq(program.observing),
            decoder.program_valid.eq(program.valid),
            decoder.program_params.eq(program.param_count),
            decoder.program_observables.eq(program.observing),
            decoder.param_count.eq(parameters.count),
            decoder.set_count.eq(parameters.sets),
        ]

        # Instruction registers, loaded from the decoder when a header is accepted.
        opcode = Signal(8)
        target = Signal(range(params.max_qubits))
        control = Signal(range(params.max_qubits))
        controlled, last, quarter_turns = Signal(), Signal(), Signal(2)
        mask = Signal(32)
        lane_op = Signal(LaneOp)
        coefficients = [Signal(cplx, name=f"u{k // 2}{k % 2}") for k in range(4)]
        coefficient_index = Signal(2)
        # v2: GATE_ROT's kind, index and payload, OBS's weight; RUN's set range.
        kind = Signal(2)
        param_index = Signal(range(params.max_params))
        affine_a = Signal(signed(ANGLE_WORD_BITS))
        affine_b = Signal(ANGLE_WORD_BITS)
        weight = Signal(signed(32))
        param_address = Signal(range(params.param_depth))
        set_base = Signal(range(params.param_depth))  # s * P of the running set
        sets_left = Signal(FIELD_BITS)  # sets of the RUN still to replay, this one included
        run_last = Signal()  # TLAST on the RUN's final beat
        final_set = Signal()
        m.d.comb += final_set.eq(sets_left == 1)
        # RUN_SHIFT / RUN_ADJOINT: which RUN*, the set's value, the shift loop's position
        # (occurrence r, term k; the r-th GATE_ROT's index, a and rule latched when it is
        # replayed), the backward sweep's gate.
        run_opcode = Signal(8)
        gradient_run = Signal()
        m.d.comb += gradient_run.eq(replaying & (run_opcode != Opcode.RUN))
        set_value = Signal(signed(64))
        shifting = Signal()  # the set's shifted replays (after its forward replay)
        rotation_seen = Signal(range(params.program_depth + 1))  # GATE_ROTs so far this replay
        occurrence = Signal(range(params.program_depth))
        term = Signal(2)
        shift_now = Signal()  # the GATE_ROT being set up is the shifted occurrence
        occurrence_param = Signal(range(params.max_params))
        occurrence_a = Signal(signed(ANGLE_WORD_BITS))
        occurrence_four_term = Signal()
        backward = Signal()  # RUN_ADJOINT's backward sweep
        gate_index = Signal(range(params.program_depth))
        second_pass = Signal()  # the backward sweep's pass over bank B
        first_term = Signal()  # the replay's first OBS term (lambda is written, not added to)

        # Pass counters: `step` counts issue steps of a pass, `wait` counts drain cycles.
        n = self.n_qubits
        step = Signal(params.max_qubits + 1)
        wait = Signal(range(max(GATE_DRAIN_CYCLES, REDUCE_DRAIN_CYCLES, OBS_DRAIN_CYCLES,
                                params.rotation_setup_cycles, GRAD_UPDATE_CYCLES,
                                GRAD_EMIT_CYCLES) + 1))
        amplitude_count = Signal(params.max_qubits + 1)
        m.d.comb += amplitude_count.eq(Const(1, params.max_qubits + 1) << n)
        # A gate pass (pairs / lanes steps) and a sweep of all banks (amplitudes / banks rows)
        # both take 2**n / (2 * lanes) steps.
        last_step = Signal(params.max_qubits)
        m.d.comb += last_step.eq((amplitude_count >> (params.lane_bits + 1)) - 1)

        # The lanes' coefficients: the registers, or U-dagger of them in the backward sweep.
        lane_coefficients, lane_quarter_turns = coefficients, quarter_turns
        if params.adjoint:
            m.d.comb += [inverse.inverse.eq(backward), inverse.op.eq(lane_op),
                         inverse.quarter_turns.eq(quarter_turns)]
            m.d.comb += [inverse.coefficients[k].eq(coefficients[k]) for k in range(4)]
            lane_coefficients = [inverse.lane_coefficients[k] for k in range(4)]
            lane_quarter_turns = inverse.lane_quarter_turns
        for gate_lane in gate_lanes:
            m.d.comb += [gate_lane.op.eq(lane_op), gate_lane.quarter_turns.eq(lane_quarter_turns)]
            for k in range(4):
                m.d.comb += gate_lane.coefficients[k].eq(lane_coefficients[k])
        m.d.comb += [
            addresses.group.eq(step),
            addresses.target.eq(target),
            addresses.control.eq(control),
            addresses.controlled.eq(controlled),
            reducer.mask.eq(mask),
            rotation.kind.eq(kind),
            rotation.a.eq(affine_a),
            rotation.b.eq(affine_b),
            rotation.shift.eq(Mux(shift_now, shift_rule.sigma, 0)),
            shift_rule.four_term.eq(occurrence_four_term),
            shift_rule.term.eq(term),
            rotation.i.payload.eq(parameters.rd_data),
            parameters.rd_index.eq(param_address),
            observable.weight.eq(weight),
            observable.i.payload.eq(reducer.total),
        ]

        def read_delayed(value, name):
            """``value`` of an issue cycle, in step with that cycle's read data (a pass keeps
            ``rd_en`` high until its last read is out, so a plain delay line follows it)."""
            for stage in range(MEMORY_READ_LATENCY):
                register = Signal(value.shape(), name=f"{name}_d{stage + 1}")
                m.d.sync += register.eq(value)
                value = register
            return value

        # Gate pipeline bookkeeping: pair addresses travel beside the data to the write-back.
        issue = Signal()
        pipeline_depth = GATE_DRAIN_CYCLES
        valid_stages = [Signal(name=f"issued_d{d}") for d in range(pipeline_depth + 1)]
        i0_stages = [[Signal(params.max_qubits, name=f"i0_l{j}_d{d}") for d in range(pipeline_depth + 1)]
                     for j in range(lanes)]
        i1_stages = [[Signal(params.max_qubits, name=f"i1_l{j}_d{d}") for d in range(pipeline_depth + 1)]
                     for j in range(lanes)]
        bank_stages = [Signal(name=f"bank_d{d}") for d in range(pipeline_depth + 1)]
        active_read = read_delayed(addresses.active, "active")
        m.d.comb += [valid_stages[0].eq(issue), bank_stages[0].eq(second_pass)]
        for d in range(pipeline_depth):
            m.d.sync += [valid_stages[d + 1].eq(valid_stages[d]),
                         bank_stages[d + 1].eq(bank_stages[d])]
        for j in range(lanes):
            m.d.comb += [i0_stages[j][0].eq(addresses.i0[j]), i1_stages[j][0].eq(addresses.i1[j])]
            for d in range(pipeline_depth):
                m.d.sync += [i0_stages[j][d + 1].eq(i0_stages[j][d]),
                             i1_stages[j][d + 1].eq(i1_stages[j][d])]
            gate_lane = gate_lanes[j]
            m.d.comb += [
                gate_lane.i.valid.eq(valid_stages[MEMORY_READ_LATENCY]),
                gate_lane.i.payload.x0.eq(memory.rd_data[2 * j]),
                gate_lane.i.payload.x1.eq(memory.rd_data[2 * j + 1]),
                gate_lane.i.payload.active.eq(active_read[j]),
            ]
            with m.If(gate_lane.overflow):
                m.d.sync += self.overflow.eq(1)

        if params.adjoint:
            # The adjoint reducer: psi's and lambda's pairs at the lanes' addresses during the
            # backward pass over bank A (before the write-back), for a rotation.
            reduce_pairs = read_delayed(issue & backward & ~second_pass & (opcode == Opcode.GATE_ROT),
                                        "reduce_pairs")
            m.d.comb += [adjoint_reducer.kind.eq(kind), adjoint_reducer.i.valid.eq(reduce_pairs)]
            for j in range(lanes):
                pair = adjoint_reducer.i.payload[j]
                m.d.comb += [pair.x0.eq(memory.rd_data_a[2 * j]), pair.x1.eq(memory.rd_data_a[2 * j + 1]),
                             pair.l0.eq(memory.rd_data_b[2 * j]), pair.l1.eq(memory.rd_data_b[2 * j + 1]),
                             pair.active.eq(active_read[j])]
            # U-dagger saturating is an overflow, as in the model (checked while the pass runs).
            with m.If(valid_stages[MEMORY_READ_LATENCY] & backward & inverse.overflow):
                m.d.sync += self.overflow.eq(1)

        # Reducer rows: addresses row*banks + port, in step with the memory read.
        reduce_issue = Signal()
        row_addresses = [Cat(Const(port, params.lane_bits + 1), step)[: params.max_qubits]
                         for port in range(banks)]
        reduce_valid = read_delayed(reduce_issue, "reduce_valid")
        row_addresses_d = [read_delayed(row_addresses[p], f"row_addr{p}") for p in range(banks)]
        for port in range(banks):
            m.d.comb += [reducer.amplitudes[port].eq(memory.rd_data_a[port]),
                         reducer.addresses[port].eq(row_addresses_d[port])]
        m.d.comb += reducer.valid.eq(reduce_valid)
        if params.adjoint:
            lambda_valid = Signal()
            # RUN_ADJOINT's forward OBS passes: lambda (bank B) at the rows the term reads.
            lambda_pass = (opcode == Opcode.OBS) & (run_opcode == Opcode.RUN_ADJOINT) & replaying
            m.d.comb += [
                lambda_prep.i.valid.eq(reduce_valid & lambda_pass),
                lambda_prep.weight.eq(weight),
                lambda_prep.mask.eq(mask),
                lambda_prep.scale_shift.eq(program.obs_shift),
                lambda_prep.first.eq(first_term),
                lambda_valid.eq(lambda_prep.o.valid),
            ]
            for port in range(banks):
                row = lambda_prep.i.payload[port]
                m.d.comb += [row.psi.eq(memory.rd_data_a[port]), row.lam.eq(memory.rd_data_b[port]),
                             row.address.eq(row_addresses_d[port])]
            with m.If(lambda_prep.overflow):
                m.d.sync += self.overflow.eq(1)

        # The gradient unit: the shift rule's MAC, the updates, the set's value + P beats.
        mu = adjoint_reducer.total if params.adjoint else 0
        m.d.comb += [
            gradients.mac.payload.value.eq(observable.value),
            gradients.mac.payload.weight.eq(shift_rule.weight),
            gradients.mac.payload.first.eq(term == 0),
            gradients.update.payload.index.eq(Mux(backward, param_index, occurrence_param)),
            gradients.update.payload.a.eq(Mux(backward, affine_a, occurrence_a)),
            gradients.update.payload.adjoint.eq(backward),
            gradients.update.payload.mu.eq(mu),
            gradients.update.payload.kind.eq(kind),
            gradients.update.payload.scale_shift.eq(program.obs_shift),
            gradients.emit_count.eq(parameters.count),
            gradients.value.eq(set_value),
            program.gate_index.eq(gate_index - 1),  # the backward sweep's next gate
        ]
        with m.If(gradients.overflow):
            m.d.sync += self.overflow.eq(1)

        # Memory writes: lane results, else INIT's clear, else LOAD's words.
        lane_results_valid = valid_stages[pipeline_depth]
        clearing = Signal()
        loading = Signal()
        with m.If(lane_results_valid):
            m.d.comb += memory.wr_bank.eq(bank_stages[pipeline_depth])
            for j, gate_lane in enumerate(gate_lanes):
                m.d.comb += [
                    memory.wr_en[2 * j].eq(1), memory.wr_en[2 * j + 1].eq(1),
                    memory.wr_addr[2 * j].eq(i0_stages[j][pipeline_depth]),
                    memory.wr_addr[2 * j + 1].eq(i1_stages[j][pipeline_depth]),
                    memory.wr_data[2 * j].eq(gate_lane.o.payload.y0),
                    memory.wr_data[2 * j + 1].eq(gate_lane.o.payload.y1),
                ]
        if params.adjoint:
            with m.Elif(lambda_valid):
                m.d.comb += memory.wr_bank.eq(1)
                for port in range(banks):
                    m.d.comb += [memory.wr_en[port].eq(1),
                                 memory.wr_addr[port].eq(lambda_prep.o.payload[port].address),
                                 memory.wr_data[port].eq(lambda_prep.o.payload[port].lam)]
        with m.Elif(clearing):
            for port in range(banks):
                m.d.comb += [memory.wr_en[port].eq(1), memory.wr_addr[port].eq(row_addresses[port])]
                with m.If(row_addresses[port] == 0):
                    m.d.comb += memory.wr_data[port].re.eq(1 << params.frac_bits)
        with m.Elif(loading):
            m.d.comb += [
                memory.wr_en[0].eq(1),
                memory.wr_addr[0].eq(step),
                memory.wr_data[0].re.eq(word[:width]),
                memory.wr_data[0].im.eq(word[32 : 32 + width]),
            ]

        # Streamed readout: a valid and a last bit per read in flight, advancing with the
        # memory's read stages (both move with `advance`); the last stage's marks the memory
        # output as the pending output beat. A readout ends with every stage empty.
        in_flight = [Signal(name=f"beat_valid_d{d + 1}") for d in range(MEMORY_READ_LATENCY)]
        in_flight_last = [Signal(name=f"beat_last_d{d + 1}") for d in range(MEMORY_READ_LATENCY)]
        beat_valid, beat_last = in_flight[-1], in_flight_last[-1]
        stream_probabilities = Signal()
        advance = Signal()
        m.d.comb += advance.eq(~beat_valid | self.o.ready)

        # START waits while the gradient unit clears its memory (after configuration and after
        # every RESET), so CYCLES counts only the program; BUSY shows from START on.
        running = Signal()
        start_pending = Signal()
        go = Signal()
        m.d.comb += [go.eq(~running & (self.start | start_pending) & ~gradients.clearing),
                     self.busy.eq(running | start_pending)]
        with m.If(go):
            m.d.sync += [running.eq(1), self.done.eq(0), self.error.eq(ErrorCode.NONE),
                         self.overflow.eq(0), self.cycles.eq(0), start_pending.eq(0)]
        with m.Elif(running):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        with m.Elif(self.start):
            m.d.sync += start_pending.eq(1)

        def finish():
            m.d.sync += [running.eq(0), self.done.eq(1)]
            m.next = "IDLE"

        def restart_replay():
            m.d.comb += program.fetch_restart.eq(1)
            m.next = "FETCH"

        def emit_gradients():
            m.d.comb += gradients.emit.eq(1)
            m.next = "GRADS"

        def next_set():
            """After a replay: the RUN's next set, or back to the stream."""
            m.d.sync += [shifting.eq(0), backward.eq(0)]
            with m.If(final_set):
                m.d.sync += replaying.eq(0)
            with m.Else():
                m.d.sync += [sets_left.eq(sets_left - 1),
                             set_base.eq(set_base + parameters.count)]
                m.d.comb += program.fetch_restart.eq(1)
            m.next = "FETCH"

        def refuse(code):
            m.d.sync += self.error.eq(code)
            with m.If(word_last):
                finish()
            with m.Else():
                m.next = "SKIP"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(go):
                    m.next = "FETCH"

            with m.State("FETCH"):
                m.d.comb += source_ready.eq(1)
                # A replayed readout's LAST: the RUN's final beat (its last set, the program's
                # last readout and no value beat after it).
                replay_last = (run_last & final_set & ~program.observing
                               & (program.fetch_pc == program.last_read))
                with m.If(accept):
                    m.d.sync += [
                        opcode.eq(header["opcode"]),
                        target.eq(header["target"]),
                        control.eq(header["control"]),
                        controlled.eq(header["controlled"]),
                        last.eq(Mux(replaying, replay_last, header["last"])),
                        quarter_turns.eq(header["quarter_turns"]),
                        kind.eq(header["kind"]),
                        param_index.eq(header["field_a"]),
                        mask.eq(header["mask"]),
                        step.eq(0),
                        wait.eq(0),
                        coefficient_index.eq(0),
                    ]
                    with m.If(~replaying & (decoder.error != ErrorCode.NONE)):
                        refuse(decoder.error)
                    with m.Else():
                        with m.Switch(header["opcode"]):
                            with m.Case(Opcode.END):
                                with m.If(~replaying):
                                    finish()
                                with m.Elif(run_opcode == Opcode.RUN):
                                    with m.If(program.observing):
                                        m.d.sync += self.overflow.eq(self.overflow | observable.overflow)
                                        m.next = "VALUE"
                                    with m.Else():
                                        next_set()
                                with m.Else():
                                    # RUN_SHIFT / RUN_ADJOINT: keep the forward replay's value;
                                    # then the shifted replays (a shifted one's value goes into
                                    # the MAC) or the backward sweep from the last gate; with
                                    # no rotation (no gate) the beats.
                                    m.d.sync += self.overflow.eq(self.overflow | observable.overflow)
                                    with m.If(~shifting):
                                        m.d.sync += set_value.eq(observable.value)
                                    with m.If(run_opcode == Opcode.RUN_SHIFT):
                                        with m.If(shifting):
                                            m.d.comb += gradients.mac.valid.eq(1)
                                            m.next = "SHIFT_MAC"
                                        with m.Elif(program.rotation_count == 0):
                                            emit_gradients()
                                        with m.Else():
                                            m.d.sync += [shifting.eq(1), occurrence.eq(0), term.eq(0)]
                                            restart_replay()
                                    with m.Elif(program.gate_count == 0):
                                        m.next = "GRAD_EMIT"
                                    with m.Else():
                                        m.d.sync += [backward.eq(1),
                                                     gate_index.eq(program.gate_count - 1)]
                                        m.d.comb += program.fetch_backward.eq(1)
                            with m.Case(Opcode.INIT):
                                m.d.sync += n.eq(header["target"])
                                m.d.comb += observable.clear.eq(1)
                                with m.If(replaying):
                                    m.d.sync += [rotation_seen.eq(0), first_term.eq(1)]
                                m.next = "CLEAR"
                            with m.Case(Opcode.LOAD):
                                m.d.sync += n.eq(header["target"])
                                m.next = "LOAD"
                            with m.Case(Opcode.GATE_U):
                                m.d.sync += lane_op.eq(LaneOp.MATRIX)
                                m.next = "COEFFICIENTS"
                            with m.Case(Opcode.GATE_DIAG):
                                m.d.sync += [lane_op.eq(LaneOp.MATRIX),
                                             coefficients[1].eq(0), coefficients[2].eq(0)]
                                m.next = "COEFFICIENTS"
                            with m.Case(Opcode.GATE_X):
                                m.d.sync += lane_op.eq(LaneOp.SWAP)
                                m.next = "GATE"
                            with m.Case(Opcode.GATE_PHASE4):
                                m.d.sync += lane_op.eq(LaneOp.PHASE4)
                                m.next = "GATE"
                            with m.Case(Opcode.READ_STATE):
                                m.d.sync += stream_probabilities.eq(0)
                                with m.If(~gradient_run):  # skipped in RUN_SHIFT / RUN_ADJOINT
                                    m.next = "STREAM"
                            with m.Case(Opcode.READ_PROBS):
                                m.d.sync += stream_probabilities.eq(1)
                                with m.If(~gradient_run):  # skipped in RUN_SHIFT / RUN_ADJOINT
                                    m.next = "STREAM"
                            with m.Case(Opcode.READ_EXPZ):
                                m.d.comb += reducer.clear.eq(1)
                                with m.If(~gradient_run):
                                    m.next = "REDUCE"
                            with m.Case(Opcode.GATE_ROT):
                                m.d.sync += lane_op.eq(LaneOp.MATRIX)
                                target_occurrence = shifting & (rotation_seen == occurrence)
                                m.d.sync += [rotation_seen.eq(rotation_seen + 1),
                                             shift_now.eq(target_occurrence)]
                                with m.If(target_occurrence):
                                    m.d.sync += [
                                        occurrence_param.eq(header["field_a"]),
                                        occurrence_four_term.eq(header["controlled"]
                                                                & (header["kind"] != RotationKind.P)),
                                    ]
                                m.next = "ROT_AFFINE"
                            with m.Case(Opcode.OBS):
                                m.d.comb += reducer.clear.eq(1)
                                m.next = "OBS_WEIGHT"
                            with m.Case(Opcode.LOAD_PARAMS):
                                m.d.comb += [
                                    parameters.load.eq(1),
                                    parameters.load_count.eq(header["field_a"]),
                                    parameters.load_sets.eq(header["field_b"]),
                                    parameters.load_words.eq(decoder.param_words),
                                ]
                                m.next = "LOAD_PARAMS"
                            with m.Case(Opcode.PROGRAM):
                                m.d.comb += [program.store_start.eq(1),
                                             program.store_words.eq(header["field_a"])]
                                m.next = "STORE"
                            with m.Case(*RUN_OPCODES):
                                m.d.sync += [replaying.eq(1), sets_left.eq(header["field_b"]),
                                             set_base.eq(decoder.product), run_last.eq(header["last"]),
                                             run_opcode.eq(header["opcode"]), shifting.eq(0),
                                             backward.eq(0)]
                                m.d.comb += program.fetch_restart.eq(1)
                    if params.adjoint:
                        with m.If(backward):
                            m.d.comb += adjoint_reducer.clear.eq(1)

            with m.State("COEFFICIENTS"):
                # GATE_U sends u00, u01, u10, u11; GATE_DIAG sends u00 and u11.
                m.d.comb += source_ready.eq(1)
                is_diagonal = opcode == Opcode.GATE_DIAG
                with m.If(accept):
                    value = Signal(cplx)
                    m.d.comb += [value.re.eq(word[:width]), value.im.eq(word[32 : 32 + width])]
                    slot = Signal(2)
                    m.d.comb += slot.eq(Mux(is_diagonal, Mux(coefficient_index[0], 3, 0), coefficient_index))
                    with m.Switch(slot):
                        for k in range(4):
                            with m.Case(k):
                                m.d.sync += coefficients[k].eq(value)
                    m.d.sync += coefficient_index.eq(coefficient_index + 1)
                    with m.If(coefficient_index == Mux(is_diagonal, 1, 3)):
                        m.next = "GATE"

            with m.State("ROT_AFFINE"):
                # GATE_ROT's payload: a [0, 32), b [32, 64); the angle's index in this set.
                m.d.comb += source_ready.eq(1)
                with m.If(accept):
                    m.d.sync += [affine_a.eq(word[:32]), affine_b.eq(word[32:]),
                                 param_address.eq(set_base + param_index)]
                    with m.If(shift_now):
                        m.d.sync += occurrence_a.eq(word[:32])
                    m.next = "ROT_SETUP"

            with m.State("ROT_SETUP"):
                # Parameter read, then the rotation unit (affine, sin/cos), then the lane's
                # coefficient registers: params.rotation_setup_cycles clocks.
                m.d.sync += wait.eq(wait + 1)
                m.d.comb += [parameters.rd_en.eq(wait == 0),
                             rotation.i.valid.eq(wait == PARAM_READ_LATENCY)]
                with m.If(rotation.o.valid):
                    m.d.sync += [coefficients[k].eq(rotation.o.payload[k]) for k in range(4)]
                    m.next = "GATE"

            with m.State("GATE"):
                # One pass; in the backward sweep the pass over bank A, then one over bank B.
                m.d.comb += [issue.eq(1), memory.rd_en.eq(1), memory.rd_ports.eq(-1),
                             memory.rd_bank.eq(second_pass)]
                for j in range(lanes):
                    m.d.comb += [memory.rd_addr[2 * j].eq(addresses.i0[j]),
                                 memory.rd_addr[2 * j + 1].eq(addresses.i1[j])]
                m.d.sync += step.eq(step + 1)
                with m.If(step == last_step):
                    with m.If(backward & ~second_pass):
                        m.d.sync += [second_pass.eq(1), step.eq(0)]
                    with m.Else():
                        m.d.sync += [second_pass.eq(0), wait.eq(0)]
                        m.next = "GATE_DRAIN"

            with m.State("GATE_DRAIN"):
                m.d.sync += wait.eq(wait + 1)
                m.d.comb += memory.rd_en.eq(wait < MEMORY_READ_LATENCY - 1)  # the last reads out
                # The backward sweep's next gate: its header is read a clock before the jump.
                m.d.comb += program.fetch_prepare.eq(backward & (gate_index != 0)
                                                     & (wait == GATE_DRAIN_CYCLES - 2))
                with m.If(wait == GATE_DRAIN_CYCLES - 1):
                    with m.If(~backward):
                        m.next = "FETCH"
                    with m.Else():
                        # A rotation's Im<lambda|G|psi> is final: its update; then the gate
                        # before it, or the set's beats.
                        m.d.comb += gradients.update.valid.eq(opcode == Opcode.GATE_ROT)
                        with m.If(gate_index == 0):
                            m.d.sync += wait.eq(0)
                            m.next = "GRAD_EMIT"
                        with m.Else():
                            m.d.sync += gate_index.eq(gate_index - 1)
                            m.d.comb += program.fetch_jump.eq(1)
                            m.next = "FETCH"

            with m.State("CLEAR"):
                m.d.comb += clearing.eq(1)
                m.d.sync += step.eq(step + 1)
                with m.If(step == last_step):
                    m.next = "FETCH"

            with m.State("LOAD"):
                m.d.comb += [source_ready.eq(1), loading.eq(accept)]
                with m.If(accept):
                    m.d.sync += step.eq(step + 1)
                    with m.If(step == amplitude_count - 1):
                        m.next = "FETCH"

            with m.State("LOAD_PARAMS"):
                m.d.comb += [source_ready.eq(1), parameters.wr_data.eq(word),
                             parameters.wr_en.eq(accept)]
                with m.If(accept & parameters.wr_last):
                    m.next = "FETCH"

            with m.State("STORE"):
                # A PROGRAM body word: a header is checked against the body so far; a fault
                # leaves no program (the record was restarted at the PROGRAM header).
                m.d.comb += [source_ready.eq(1), storing.eq(program.header_expected),
                             program.store_word.eq(word)]
                with m.If(accept):
                    with m.If(storing & (decoder.error != ErrorCode.NONE)):
                        refuse(decoder.error)
                    with m.Else():
                        m.d.comb += program.store_en.eq(1)
                        with m.If(program.words_left == 1):
                            m.next = "FETCH"

            with m.State("STREAM"):
                amplitude = memory.rd_data[0]
                m.d.comb += [
                    memory.rd_en.eq(advance),
                    memory.rd_ports.eq(1),
                    memory.rd_addr[0].eq(step),
                    self.o.valid.eq(beat_valid),
                    self.o.payload.last.eq(beat_last & last),
                ]
                with m.If(stream_probabilities):
                    m.d.comb += self.o.payload.data.eq(squared_magnitude(amplitude))
                with m.Else():
                    m.d.comb += self.o.payload.data.eq(amplitude_beat(m, amplitude))
                with m.If(advance):
                    m.d.sync += [in_flight[0].eq(step != amplitude_count),
                                 in_flight_last[0].eq(step == amplitude_count - 1)]
                    m.d.sync += [in_flight[d + 1].eq(in_flight[d]) for d in range(MEMORY_READ_LATENCY - 1)]
                    m.d.sync += [in_flight_last[d + 1].eq(in_flight_last[d])
                                 for d in range(MEMORY_READ_LATENCY - 1)]
                    with m.If(step != amplitude_count):
                        m.d.sync += step.eq(step + 1)
                    with m.If(beat_valid & beat_last):  # the last beat leaves this clock
                        m.next = "FETCH"

            with m.State("OBS_WEIGHT"):
                m.d.comb += source_ready.eq(1)
                with m.If(accept):
                    m.d.sync += weight.eq(word[:32])
                    m.next = "REDUCE"

            with m.State("REDUCE"):
                m.d.comb += [reduce_issue.eq(1), memory.rd_en.eq(1), memory.rd_ports.eq(-1)]
                for port in range(banks):
                    m.d.comb += memory.rd_addr[port].eq(row_addresses[port])
                m.d.sync += step.eq(step + 1)
                with m.If(step == last_step):
                    with m.If(opcode == Opcode.OBS):
                        m.next = "OBS_DRAIN"
                    with m.Else():
                        m.next = "REDUCE_DRAIN"

            with m.State("REDUCE_DRAIN"):
                m.d.sync += wait.eq(wait + 1)
                m.d.comb += memory.rd_en.eq(wait < MEMORY_READ_LATENCY - 1)
                with m.If(wait == REDUCE_DRAIN_CYCLES - 1):
                    m.next = "REDUCE_RESULT"

            with m.State("REDUCE_RESULT"):
                total = Signal(64)
                m.d.comb += [
                    total.eq(reducer.total),  # sign-extends to the 64-bit beat
                    self.o.valid.eq(1),
                    self.o.payload.data.eq(total),
                    self.o.payload.last.eq(last),
                ]
                with m.If(self.o.ready):
                    m.next = "FETCH"

            with m.State("OBS_DRAIN"):
                # The reducer's square and sum, then c * E and the accumulation.
                m.d.sync += wait.eq(wait + 1)
                m.d.comb += memory.rd_en.eq(wait < MEMORY_READ_LATENCY - 1)
                m.d.comb += observable.i.valid.eq(wait == REDUCE_DRAIN_CYCLES)
                with m.If(wait == OBS_DRAIN_CYCLES - 1):
                    m.d.sync += first_term.eq(0)
                    m.next = "FETCH"

            with m.State("SHIFT_MAC"):
                # W_k * C_rk is in the MAC; the occurrence's next term, or its update.
                with m.If(term == shift_rule.terms - 1):
                    m.d.sync += wait.eq(0)
                    m.next = "GRAD_UPDATE"
                with m.Else():
                    m.d.sync += term.eq(term + 1)
                    restart_replay()

            with m.State("GRAD_UPDATE"):
                # The last mac's d is final after the product's latency: grad[i_r] += g_r, then
                # the next occurrence, or (after the last) the wait for the update to land.
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == GRAD_PRODUCT_LATENCY - 1):
                    m.d.comb += gradients.update.valid.eq(1)
                    with m.If(occurrence == program.rotation_count - 1):
                        m.d.sync += wait.eq(0)
                        m.next = "GRAD_EMIT"
                with m.Elif(wait == GRAD_UPDATE_CYCLES - 1):
                    m.d.sync += [occurrence.eq(occurrence + 1), term.eq(0)]
                    restart_replay()

            with m.State("GRAD_EMIT"):
                # The last update is in flight: the beats start when its write is done.
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == GRAD_EMIT_CYCLES - 1):
                    emit_gradients()

            with m.State("GRADS"):
                # The set's value and P gradients, from the gradient unit.
                m.d.comb += [
                    self.o.valid.eq(gradients.o.valid),
                    self.o.payload.data.eq(gradients.o.payload.data),
                    self.o.payload.last.eq(gradients.o.payload.last & run_last & final_set),
                    gradients.o.ready.eq(self.o.ready),
                ]
                with m.If(gradients.o.valid & self.o.ready & gradients.o.payload.last):
                    next_set()

            with m.State("VALUE"):
                m.d.comb += [
                    self.o.valid.eq(1),
                    self.o.payload.data.eq(observable.value),
                    self.o.payload.last.eq(run_last & final_set),
                ]
                with m.If(self.o.ready):
                    next_set()

            with m.State("SKIP"):
                # Discard the rest of a malformed program's packet.
                m.d.comb += source_ready.eq(1)
                with m.If(accept & word_last):
                    finish()
        return m
