# qfab: every target creates .venv on first use, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BOARD  ?= pynq-z2
PYTEST_WORKERS ?= 2

.PHONY: venv demo test sim bench soak synth bitstream wheel-check clean

# The library with its test tools (`dev`) and the RTL simulation tools (`hw`); reinstalled
# whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,hw]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/qfab demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

sim: $(STAMP)
	$(BIN)/python -m pytest sim

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python benchmarks/run_all.py --write docs/performance.md

# The runtime under random device faults, slowdowns and NaN answers over many seeded plans (not
# part of `make test`): exits non-zero if any result is lost or changed. SOAK_PLANS=300 SOAK_SEED=0.
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py --plans $(or $(SOAK_PLANS),300) --seed $(or $(SOAK_SEED),0)

# Resource report for a board (yosys for the logic, BRAM/URAM from the memory geometry) and the
# core's Fmax from an open place-and-route (yosys synth_ecp5 + nextpnr-ecp5, 85k, out of context),
# recorded where the cost model reads it (PNR=0 skips it):
# make synth BOARD=pynq-z2 [LANES=2] [WIDTH=18] [QUBITS=16] [PNR=0]; BOARD=all for every board.
PNR ?= 1
synth: $(STAMP)
	$(BIN)/python -m qfab_hw.synth --board $(BOARD) $(if $(LANES),--lanes $(LANES)) \
		$(if $(WIDTH),--width $(WIDTH)) $(if $(QUBITS),--max-qubits $(QUBITS)) \
		$(if $(filter 1,$(PNR)),--pnr --record)

# PYNQ overlay (<name>.bit + <name>.hwh) with Vivado; stops with a message without Vivado.
bitstream: $(STAMP)
	$(BIN)/python -m qfab_hw.bitstream --board $(BOARD) $(if $(LANES),--lanes $(LANES)) \
		$(if $(WIDTH),--width $(WIDTH)) $(if $(QUBITS),--max-qubits $(QUBITS)) $(if $(ADJOINT),--adjoint)

# Build the wheel, install it with [hw] into a fresh venv under /tmp and run the CLI and the
# FPGA transports from outside the checkout (tools/wheel_check.sh; WHEEL_CHECK_DIR=... to keep it).
wheel-check:
	PYTHON=$(PYTHON) tools/wheel_check.sh

clean:
	rm -rf $(VENV) build sim_build sim/sim_build .pytest_cache .hypothesis
