"""Sequencer and datapath: runs gate programs from a word stream on the on-chip state.

One instruction at a time: fetch the header (and its payload words), then make one pass over
the state (a gate, INIT's clear, a readout) and, for gates, drain the pipeline so the next
instruction reads the written state. Every step's duration is fixed by the state size, which
gives the closed-form cycle counts of :mod:`qfab_hw.model.cycles`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.address_gen import AddressGenerator
from qfab_hw.decoder import InstructionDecoder
from qfab_hw.gate_lane import GateLane
from qfab_hw.layouts import BEAT_LAYOUT, complex_layout
from qfab_hw.model.gate_lane import LaneOp
from qfab_hw.params import GATE_DRAIN_CYCLES, REDUCE_DRAIN_CYCLES, CoreParams
from qfab_hw.program import ErrorCode, Opcode
from qfab_hw.readout import ZStringReducer, amplitude_beat, squared_magnitude
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
        gate_lanes = []
        for lane in range(lanes):
            gate_lane = GateLane(width)
            m.submodules[f"lane{lane}"] = gate_lane
            gate_lanes.append(gate_lane)

        word = self.i.payload.data
        accept = Signal()  # an input word is consumed this clock
        m.d.comb += [accept.eq(self.i.valid & self.i.ready), decoder.word.eq(word),
                     decoder.n_qubits.eq(self.n_qubits)]

        # Instruction registers, loaded from the decoder when a header is accepted.
        opcode = Signal(8)
        target = Signal(range(params.max_qubits))
        control = Signal(range(params.max_qubits))
        controlled, last, quarter_turns = Signal(), Signal(), Signal(2)
        mask = Signal(32)
        lane_op = Signal(LaneOp)
        coefficients = [Signal(cplx, name=f"u{k // 2}{k % 2}") for k in range(4)]
        coefficient_index = Signal(2)

        # Pass counters: `step` counts issue steps of a pass, `wait` counts drain cycles.
        n = self.n_qubits
        step = Signal(params.max_qubits + 1)
        wait = Signal(range(max(GATE_DRAIN_CYCLES, REDUCE_DRAIN_CYCLES) + 1))
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

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "FETCH"

            with m.State("FETCH"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(accept):
                    m.d.sync += [
                        opcode.eq(decoder.opcode),
                        target.eq(decoder.target),
                        control.eq(decoder.control),
                        controlled.eq(decoder.controlled),
                        last.eq(decoder.last),
                        quarter_turns.eq(decoder.quarter_turns),
                        mask.eq(decoder.mask),
                        step.eq(0),
                        wait.eq(0),
                        coefficient_index.eq(0),
                    ]
                    with m.If(decoder.error != ErrorCode.NONE):
                        m.d.sync += self.error.eq(decoder.error)
                        with m.If(self.i.payload.last):
                            finish()
                        with m.Else():
                            m.next = "SKIP"
                    with m.Else():
                        with m.Switch(decoder.opcode):
                            with m.Case(Opcode.END):
                                finish()
                            with m.Case(Opcode.INIT):
                                m.d.sync += n.eq(decoder.target)
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

            with m.State("COEFFICIENTS"):
                # GATE_U sends u00, u01, u10, u11; GATE_DIAG sends u00 and u11.
                m.d.comb += self.i.ready.eq(1)
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

            with m.State("GATE"):
                m.d.comb += [issue.eq(1), memory.rd_en.eq(1), memory.rd_ports.eq(-1)]
                for j in range(lanes):
                    m.d.comb += [memory.rd_addr[2 * j].eq(addresses.i0[j]),
                                 memory.rd_addr[2 * j + 1].eq(addresses.i1[j])]
                m.d.sync += step.eq(step + 1)
                with m.If(step == last_step):
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
                m.d.comb += [self.i.ready.eq(1), loading.eq(accept)]
                with m.If(accept):
                    m.d.sync += step.eq(step + 1)
                    with m.If(step == amplitude_count - 1):
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

            with m.State("REDUCE"):
                m.d.comb += [reduce_issue.eq(1), memory.rd_en.eq(1), memory.rd_ports.eq(-1)]
                for port in range(banks):
                    m.d.comb += memory.rd_addr[port].eq(row_addresses[port])
                m.d.sync += step.eq(step + 1)
                with m.If(step == last_step):
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

            with m.State("SKIP"):
                # Discard the rest of a malformed program's packet.
                m.d.comb += self.i.ready.eq(1)
                with m.If(accept & self.i.payload.last):
                    finish()
        return m
