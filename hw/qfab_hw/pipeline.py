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
returns to the stream. RUN_SHIFT / RUN_ADJOINT are not in this RTL yet (BAD_OPCODE, see
:mod:`qfab_hw.decoder`): they will drive the same replay with the rotation unit's ``shift``
(0 here) and, for the adjoint, a second state bank (``params.adjoint``; not instantiated yet).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.address_gen import AddressGenerator
from qfab_hw.decoder import InstructionDecoder
from qfab_hw.gate_lane import GateLane
from qfab_hw.layouts import BEAT_LAYOUT, complex_layout
from qfab_hw.model.gate_lane import LaneOp
from qfab_hw.observable import ObservableUnit
from qfab_hw.param_memory import FIELD_BITS, ParameterMemory
from qfab_hw.params import (
    ANGLE_WORD_BITS,
    GATE_DRAIN_CYCLES,
    OBS_DRAIN_CYCLES,
    PARAM_READ_LATENCY,
    REDUCE_DRAIN_CYCLES,
    CoreParams,
)
from qfab_hw.program import ErrorCode, Opcode
from qfab_hw.program_memory import ProgramMemory
from qfab_hw.readout import ZStringReducer, amplitude_beat, squared_magnitude
from qfab_hw.rotation import RotationUnit
from qfab_hw.state_memory import BankedStateMemory

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
        m.submodules.memory = memory = BankedStateMemory(params, blackbox=self.blackbox_memory)
        m.submodules.reducer = reducer = ZStringReducer(params)
        m.submodules.parameters = parameters = ParameterMemory(params)
        m.submodules.program = program = ProgramMemory(params)
        m.submodules.rotation = rotation = RotationUnit(params)
        m.submodules.observable = observable = ObservableUnit(params)
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

        # The decoder: a streamed header, a stored header while storing (against the body's n
        # and the record so far), or a replayed one (checked when it was stored).
        storing = Signal()  # STORE, and the next body word is a header
        m.d.comb += [
            decoder.word.eq(word),
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

        # Pass counters: `step` counts issue steps of a pass, `wait` counts drain cycles.
        n = self.n_qubits
        step = Signal(params.max_qubits + 1)
        wait = Signal(range(max(GATE_DRAIN_CYCLES, REDUCE_DRAIN_CYCLES, OBS_DRAIN_CYCLES,
                                params.rotation_setup_cycles) + 1))
        amplitude_count = Signal(params.max_qubits + 1)
        m.d.comb += amplitude_count.eq(Const(1, params.max_qubits + 1) << n)
        # A gate pass (pairs / lanes steps) and a sweep of all banks (amplitudes / banks rows)
        # both take 2**n / (2 * lanes) steps.
        last_step = Signal(params.max_qubits)
        m.d.comb += last_step.eq((amplitude_count >> (params.lane_bits + 1)) - 1)

        for gate_lane in gate_lanes:
            m.d.comb += [gate_lane.op.eq(lane_op), gate_lane.quarter_turns.eq(quarter_turns)]
            for k in range(4):
                m.d.comb += gate_lane.coefficients[k].eq(coefficients[k])
        m.d.comb += [
            addresses.group.eq(step),
            addresses.target.eq(target),
            addresses.control.eq(control),
            addresses.controlled.eq(controlled),
            reducer.mask.eq(mask),
            rotation.kind.eq(kind),
            rotation.a.eq(affine_a),
            rotation.b.eq(affine_b),
            rotation.shift.eq(0),  # RUN_SHIFT's sigma, when it comes
            rotation.i.payload.eq(parameters.rd_data),
            parameters.rd_index.eq(param_address),
            observable.weight.eq(weight),
            observable.i.payload.eq(reducer.total),
        ]

        # Gate pipeline bookkeeping: pair addresses travel beside the data to the write-back.
        issue = Signal()
        pipeline_depth = GATE_DRAIN_CYCLES
        valid_stages = [Signal(name=f"issued_d{d}") for d in range(pipeline_depth + 1)]
        i0_stages = [[Signal(params.max_qubits, name=f"i0_l{j}_d{d}") for d in range(pipeline_depth + 1)]
                     for j in range(lanes)]
        i1_stages = [[Signal(params.max_qubits, name=f"i1_l{j}_d{d}") for d in range(pipeline_depth + 1)]
                     for j in range(lanes)]
        active_d1 = Signal(lanes)
        m.d.comb += valid_stages[0].eq(issue)
        m.d.sync += active_d1.eq(addresses.active)
        for d in range(pipeline_depth):
            m.d.sync += valid_stages[d + 1].eq(valid_stages[d])
        for j in range(lanes):
            m.d.comb += [i0_stages[j][0].eq(addresses.i0[j]), i1_stages[j][0].eq(addresses.i1[j])]
            for d in range(pipeline_depth):
                m.d.sync += [i0_stages[j][d + 1].eq(i0_stages[j][d]),
                             i1_stages[j][d + 1].eq(i1_stages[j][d])]
            gate_lane = gate_lanes[j]
            m.d.comb += [
                gate_lane.i.valid.eq(valid_stages[1]),
                gate_lane.i.payload.x0.eq(memory.rd_data[2 * j]),
                gate_lane.i.payload.x1.eq(memory.rd_data[2 * j + 1]),
                gate_lane.i.payload.active.eq(active_d1[j]),
            ]
            with m.If(gate_lane.overflow):
                m.d.sync += self.overflow.eq(1)

        # Reducer rows: addresses row*banks + port, one clock behind the memory read.
        reduce_issue = Signal()
        row_addresses = [Cat(Const(port, params.lane_bits + 1), step)[: params.max_qubits]
                         for port in range(banks)]
        reduce_valid = Signal()
        row_addresses_d = [Signal(params.max_qubits, name=f"row_addr{p}") for p in range(banks)]
        m.d.sync += reduce_valid.eq(reduce_issue)
        for port in range(banks):
            m.d.sync += row_addresses_d[port].eq(row_addresses[port])
            m.d.comb += [reducer.amplitudes[port].eq(memory.rd_data[port]),
                         reducer.addresses[port].eq(row_addresses_d[port])]
        m.d.comb += reducer.valid.eq(reduce_valid)

        # Memory writes: lane results, else INIT's clear, else LOAD's words.
        lane_results_valid = valid_stages[pipeline_depth]
        clearing = Signal()
        loading = Signal()
        with m.If(lane_results_valid):
            for j, gate_lane in enumerate(gate_lanes):
                m.d.comb += [
                    memory.wr_en[2 * j].eq(1), memory.wr_en[2 * j + 1].eq(1),
                    memory.wr_addr[2 * j].eq(i0_stages[j][pipeline_depth]),
                    memory.wr_addr[2 * j + 1].eq(i1_stages[j][pipeline_depth]),
                    memory.wr_data[2 * j].eq(gate_lane.o.payload.y0),
                    memory.wr_data[2 * j + 1].eq(gate_lane.o.payload.y1),
                ]
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

        # Streamed readout: `beat_valid` marks the memory output as the pending output beat.
        beat_valid = Signal()
        beat_last = Signal()
        stream_probabilities = Signal()
        advance = Signal()
        m.d.comb += advance.eq(~beat_valid | self.o.ready)

        with m.If(~self.busy & self.start):
            m.d.sync += [self.busy.eq(1), self.done.eq(0), self.error.eq(ErrorCode.NONE),
                         self.overflow.eq(0), self.cycles.eq(0)]
        with m.Elif(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        def finish():
            m.d.sync += [self.busy.eq(0), self.done.eq(1)]
            m.next = "IDLE"

        def next_set():
            """After a replay: the RUN's next set, or back to the stream."""
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
                with m.If(self.start):
                    m.next = "FETCH"

            with m.State("FETCH"):
                m.d.comb += source_ready.eq(1)
                # A replayed readout's LAST: the RUN's final beat (its last set, the program's
                # last readout and no value beat after it).
                replay_last = (run_last & final_set & ~program.observing
                               & (program.fetch_pc == program.last_read))
                with m.If(accept):
                    m.d.sync += [
                        opcode.eq(decoder.opcode),
                        target.eq(decoder.target),
                        control.eq(decoder.control),
                        controlled.eq(decoder.controlled),
                        last.eq(Mux(replaying, replay_last, decoder.last)),
                        quarter_turns.eq(decoder.quarter_turns),
                        kind.eq(decoder.kind),
                        param_index.eq(decoder.field_a),
                        mask.eq(decoder.mask),
                        step.eq(0),
                        wait.eq(0),
                        coefficient_index.eq(0),
                    ]
                    with m.If(~replaying & (decoder.error != ErrorCode.NONE)):
                        refuse(decoder.error)
                    with m.Else():
                        with m.Switch(decoder.opcode):
                            with m.Case(Opcode.END):
                                with m.If(~replaying):
                                    finish()
                                with m.Elif(program.observing):
                                    m.d.sync += self.overflow.eq(self.overflow | observable.overflow)
                                    m.next = "VALUE"
                                with m.Else():
                                    next_set()
                            with m.Case(Opcode.INIT):
                                m.d.sync += n.eq(decoder.target)
                                m.d.comb += observable.clear.eq(1)
                                m.next = "CLEAR"
                            with m.Case(Opcode.LOAD):
                                m.d.sync += n.eq(decoder.target)
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
                                m.d.sync += [stream_probabilities.eq(0), beat_valid.eq(0)]
                                m.next = "STREAM"
                            with m.Case(Opcode.READ_PROBS):
                                m.d.sync += [stream_probabilities.eq(1), beat_valid.eq(0)]
                                m.next = "STREAM"
                            with m.Case(Opcode.READ_EXPZ):
                                m.d.comb += reducer.clear.eq(1)
                                m.next = "REDUCE"
                            with m.Case(Opcode.GATE_ROT):
                                m.d.sync += lane_op.eq(LaneOp.MATRIX)
                                m.next = "ROT_AFFINE"
                            with m.Case(Opcode.OBS):
                                m.d.comb += reducer.clear.eq(1)
                                m.next = "OBS_WEIGHT"
                            with m.Case(Opcode.LOAD_PARAMS):
                                m.d.comb += [
                                    parameters.load.eq(1),
                                    parameters.load_count.eq(decoder.field_a),
                                    parameters.load_sets.eq(decoder.field_b),
                                    parameters.load_words.eq(decoder.param_words),
                                ]
                                m.next = "LOAD_PARAMS"
                            with m.Case(Opcode.PROGRAM):
                                m.d.comb += [program.store_start.eq(1),
                                             program.store_words.eq(decoder.field_a)]
                                m.next = "STORE"
                            with m.Case(Opcode.RUN):
                                m.d.sync += [replaying.eq(1), sets_left.eq(decoder.field_b),
                                             set_base.eq(decoder.product), run_last.eq(decoder.last)]
                                m.d.comb += program.fetch_restart.eq(1)

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
                m.d.comb += [issue.eq(1), memory.rd_en.eq(1), memory.rd_ports.eq(-1)]
                for j in range(lanes):
                    m.d.comb += [memory.rd_addr[2 * j].eq(addresses.i0[j]),
                                 memory.rd_addr[2 * j + 1].eq(addresses.i1[j])]
                m.d.sync += step.eq(step + 1)
                with m.If(step == last_step):
                    m.d.sync += wait.eq(0)
                    m.next = "GATE_DRAIN"

            with m.State("GATE_DRAIN"):
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == GATE_DRAIN_CYCLES - 1):
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
                    with m.If(step != amplitude_count):
                        m.d.sync += [step.eq(step + 1), beat_valid.eq(1),
                                     beat_last.eq(step == amplitude_count - 1)]
                    with m.Else():
                        m.d.sync += beat_valid.eq(0)
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
                m.d.comb += observable.i.valid.eq(wait == REDUCE_DRAIN_CYCLES)
                with m.If(wait == OBS_DRAIN_CYCLES - 1):
                    m.next = "FETCH"

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
