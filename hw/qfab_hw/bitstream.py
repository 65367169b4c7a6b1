"""PYNQ overlays of the core: the manifest and the Vivado flow (``make bitstream BOARD=...``).

``bitstreams/manifest.toml`` lists one overlay per board: its build parameters, the file
names (``<name>.bit`` and ``<name>.hwh``, same basename as ``pynq.Overlay`` requires) and their
SHA-256 once built. Entries with ``built = false`` describe overlays nobody has built yet:
the files are produced only where Vivado is installed, and are not committed otherwise.

The manifest, the Vivado flow and built overlays (``<name>/<name>.bit``, ``.hwh`` beside the
manifest: :func:`overlay_files`, the one place both the build and the PYNQ transport take the
paths from) are package data (``qfab_hw/data/bitstreams``; the top-level ``bitstreams/`` of a
checkout links there). Vivado's working folders go to the user cache (:func:`qfab_hw.paths.cache_dir`).
``--manifest PATH`` builds into a manifest of one's own instead of the package's.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from qfab_hw import processes
from qfab_hw.boards import Board, largest_state, load_board, state_memory_cost
from qfab_hw.params import CORE_VERSION, CoreParams

#: The memories of a planned overlay: those of qfab's default FPGA build (the driver's batch and
#: program sizes), so a board runs what the bit-accurate model runs.
OVERLAY_MEMORIES = {"max_params": 1024, "param_depth": 8192, "program_depth": 4096}
from qfab_hw.paths import DATA_DIR, cache_dir

BITSTREAM_DIR = DATA_DIR / "bitstreams"
MANIFEST = BITSTREAM_DIR / "manifest.toml"
TCL_FLOW = BITSTREAM_DIR / "vivado" / "qfab_overlay.tcl"
BUILD_DIR = cache_dir("bitstream")


class ManifestError(ValueError):
    """A manifest entry that is inconsistent (names, parameters, checksums)."""


@dataclass(frozen=True)
class Overlay:
    name: str
    board: str
    max_qubits: int
    lanes: int
    width: int
    version: int
    bit: str
    hwh: str
    built: bool
    sha256_bit: str = ""
    sha256_hwh: str = ""
    max_params: int = OVERLAY_MEMORIES["max_params"]
    param_depth: int = OVERLAY_MEMORIES["param_depth"]
    program_depth: int = OVERLAY_MEMORIES["program_depth"]
    adjoint: bool = False

    @property
    def params(self) -> CoreParams:
        return CoreParams(max_qubits=self.max_qubits, lanes=self.lanes, width=self.width,
                          max_params=self.max_params, param_depth=self.param_depth,
                          program_depth=self.program_depth, adjoint=self.adjoint)

    def check(self) -> None:
        self.params  # noqa: B018 - raises ValueError for an impossible build
        if self.version != CORE_VERSION:
            raise ManifestError(f"{self.name}: built for core version {self.version}; this qfab drives "
                                f"version {CORE_VERSION} (rebuild it with `make bitstream BOARD={self.board}`)")
        load_board(self.board)
        if Path(self.bit).stem != self.name or Path(self.hwh).stem != self.name:
            raise ManifestError(f"{self.name}: bit and hwh must be named {self.name}.bit/.hwh")
        digest = re.compile(r"^[0-9a-f]{64}$")
        if self.built and not (digest.match(self.sha256_bit) and digest.match(self.sha256_hwh)):
            raise ManifestError(f"{self.name}: a built overlay needs SHA-256 of both files")
        if not self.built and (self.sha256_bit or self.sha256_hwh):
            raise ManifestError(f"{self.name}: checksums given for an overlay not built")


def overlay_name(board: str, params: CoreParams) -> str:
    adjoint = "_adj" if params.adjoint else ""
    return f"qfab_{board.replace('-', '_')}_q{params.max_qubits}_l{params.lanes}_w{params.width}{adjoint}"


def overlay_files(overlay: Overlay, manifest: Path = MANIFEST) -> tuple[Path, Path]:
    """Where a built overlay's ``.bit`` and ``.hwh`` lie: ``<name>/`` beside its manifest."""
    folder = Path(manifest).parent / overlay.name
    return folder / overlay.bit, folder / overlay.hwh


def built_files(overlay: Overlay, manifest: Path = MANIFEST) -> tuple[Path, Path]:
    """The ``.bit`` and ``.hwh`` of a built overlay (:func:`overlay_files`), checked: both
    present and with the SHA-256 the manifest recorded, so what a board loads is what was built."""
    if not overlay.built:
        raise ManifestError(f"{overlay.name} is listed in {manifest} but not built; run "
                            f"`make bitstream BOARD={overlay.board}`")
    files = overlay_files(overlay, manifest)
    for path, digest in zip(files, (overlay.sha256_bit, overlay.sha256_hwh)):
        if not path.is_file():
            raise ManifestError(f"{overlay.name}: {path} is missing (the manifest {manifest} says it was built)")
        if sha256(path) != digest:
            raise ManifestError(f"{overlay.name}: {path} does not match the SHA-256 in {manifest} (a stale or "
                                f"foreign file); rebuild with `make bitstream BOARD={overlay.board}`")
    return files


def load_manifest(path: Path = MANIFEST) -> list[Overlay]:
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: not valid TOML: {error}") from None
    fields = set(Overlay.__dataclass_fields__)
    for entry in document.get("overlay", []):
        unknown = set(entry) - fields
        if unknown:
            raise ManifestError(f"{path}: overlay {entry.get('name', '?')!r}: unknown field(s) "
                                f"{', '.join(sorted(unknown))}")
    overlays = [Overlay(**entry) for entry in document.get("overlay", [])]
    for overlay in overlays:
        overlay.check()
    return overlays


def write_manifest(overlays: list[Overlay], path: Path = MANIFEST) -> None:
    lines = [
        "# qfab PYNQ overlays. built = false: defined, not built (needs Vivado:",
        "# `make bitstream BOARD=<board>`); the .bit/.hwh are committed only once built.",
        "",
    ]
    for overlay in overlays:
        lines.append("[[overlay]]")
        for key, value in asdict(overlay).items():
            text = str(value).lower() if isinstance(value, bool) else (
                f'"{value}"' if isinstance(value, str) else str(value))
            lines.append(f"{key} = {text}")
        lines.append("")
    Path(path).write_text("\n".join(lines))


def planned_overlay(board: Board, lanes: int = 1, width: int = 18,
                    max_qubits: int | None = None, adjoint: bool = False) -> Overlay:
    """An overlay of the largest state the board holds (two states with ``adjoint``: bank B
    for RUN_ADJOINT) unless ``max_qubits`` says, with :data:`OVERLAY_MEMORIES`."""
    params = CoreParams(max_qubits=max_qubits or largest_state(board, lanes, width, adjoint),
                        lanes=lanes, width=width, adjoint=adjoint, **OVERLAY_MEMORIES)
    name = overlay_name(board.key, params)
    return Overlay(name=name, board=board.key, max_qubits=params.max_qubits, lanes=lanes,
                   width=width, version=CORE_VERSION, bit=f"{name}.bit", hwh=f"{name}.hwh",
                   built=False, adjoint=adjoint, **OVERLAY_MEMORIES)


def overlay_wrapper() -> str:
    """Verilog top with Xilinx AXI port names and an active-low reset, so Vivado's IP
    integrator infers the interfaces of the module reference."""
    lite = ["awaddr:6:i", "awprot:3:i", "awvalid:1:i", "awready:1:o", "wdata:32:i", "wstrb:4:i",
            "wvalid:1:i", "wready:1:o", "bresp:2:o", "bvalid:1:o", "bready:1:i", "araddr:6:i",
            "arprot:3:i", "arvalid:1:i", "arready:1:o", "rdata:32:o", "rresp:2:o", "rvalid:1:o",
            "rready:1:i"]
    ports = [("s_axis", "s_axis", f) for f in ("tdata:64:i", "tvalid:1:i", "tready:1:o",
                                                "tlast:1:i")]
    ports += [("m_axis", "m_axis", f) for f in ("tdata:64:o", "tvalid:1:o", "tready:1:i",
                                                 "tlast:1:o")]
    ports += [("s_axi_control", "s_axil", f) for f in lite]
    declarations, connections = [], []
    for outer, inner, spec in ports:
        field, bits, direction = spec.split(":")
        kind = "input" if direction == "i" else "output"
        vector = f"[{int(bits) - 1}:0] " if int(bits) > 1 else ""
        declarations.append(f"    {kind} {vector}{outer}_{field}")
        connections.append(f"        .{inner}__{field}({outer}_{field})")
    return (
        "// Generated by qfab_hw.bitstream: AXI-named wrapper of qfab_core for Vivado IPI.\n"
        "module qfab_overlay_top (\n"
        '    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axis:m_axis:s_axi_control, '
        'ASSOCIATED_RESET aresetn" *)\n'
        "    input aclk,\n    input aresetn,\n"
        "    output [7:0] m_axis_tkeep,\n"
        + ",\n".join(declarations)
        + "\n);\n    assign m_axis_tkeep = 8'hFF;\n"
        "    qfab_core core (\n        .clk(aclk),\n        .rst(~aresetn),\n"
        + ",\n".join(connections)
        + "\n    );\nendmodule\n"
    )


#: The exit status of a build whose routed design misses the PL clock (or has no timing report).
TIMING_FAILED = 3


def routed_slack(path: Path) -> float:
    """The worst negative slack (ns) the Vivado flow wrote after routing (``wns_ns <value>`` in
    ``<name>.timing``); a missing or unreadable report is an error, never a pass."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        raise ManifestError(f"{path}: no timing report from the Vivado flow, so the build is not "
                            "known to meet its clock") from None
    for line in lines:
        key, _, value = line.partition(" ")
        if key == "wns_ns":
            try:
                return float(value)
            except ValueError:
                break
    raise ManifestError(f"{path}: no 'wns_ns <number>' line (the routed design's worst slack)")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build(board: Board, overlay: Overlay, manifest: Path = MANIFEST) -> int:
    """Generate the sources, run Vivado if present; returns the exit status for make. A build
    is recorded (its ``<name>/<name>.bit`` and ``.hwh`` beside ``manifest``, where
    :func:`overlay_files` and the PYNQ transport find them) only when Vivado succeeded and its
    routed worst slack is not negative (:func:`routed_slack`; :data:`TIMING_FAILED` otherwise)."""
    from amaranth.back import verilog

    from qfab_hw.core import QfabCore

    work = BUILD_DIR / overlay.name
    work.mkdir(parents=True, exist_ok=True)
    (work / "qfab_core.v").write_text(verilog.convert(QfabCore(overlay.params), name="qfab_core"))
    (work / "qfab_overlay_top.v").write_text(overlay_wrapper())
    vivado = shutil.which("vivado")
    if vivado is None:
        print(
            f"make bitstream: Vivado is not on PATH, so {overlay.name}.bit/.hwh cannot be built "
            f"here.\n  Sources and flow are ready in {work}; on a machine with Vivado, source "
            f"its settings64.sh and run `make bitstream BOARD={board.key}` again.",
            file=sys.stderr,
        )
        return 2
    command = [vivado, "-mode", "batch", "-nojournal", "-source", str(TCL_FLOW), "-tclargs",
               overlay.name, board.part, board.vivado_board_part, board.ps, str(board.pl_mhz),
               str(board.dma_length_bits), str(board.width_bits), "qfab_core.v", "qfab_overlay_top.v"]
    status = processes.run(command, cwd=work).returncode  # Vivado ends with its caller (own process group)
    if status:
        print(f"make bitstream: Vivado failed ({status}); logs in {work}", file=sys.stderr)
        return status
    try:
        wns = routed_slack(work / f"{overlay.name}.timing")
    except ManifestError as error:
        print(f"make bitstream: {error}", file=sys.stderr)
        return TIMING_FAILED
    if wns < 0:
        print(f"make bitstream: {overlay.name} misses {board.pl_mhz:g} MHz (worst negative slack {wns:g} ns); "
              f"not recorded as built (see {work})", file=sys.stderr)
        return TIMING_FAILED
    manifest = Path(manifest)
    bit, hwh = overlay_files(overlay, manifest)
    bit.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / overlay.bit, bit)
    shutil.copy2(work / overlay.hwh, hwh)
    built = replace(overlay, built=True, sha256_bit=sha256(bit), sha256_hwh=sha256(hwh))
    existing = load_manifest(manifest) if manifest.exists() else []
    overlays = [o for o in existing if o.name != overlay.name] + [built]
    write_manifest(sorted(overlays, key=lambda o: o.name), manifest)
    print(f"built {bit} and {hwh}; recorded in {manifest}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build a qfab PYNQ overlay with Vivado.")
    parser.add_argument("--board", default="pynq-z2", help="a board key or a board file (.toml)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST,
                        help="manifest to record the overlay in (default: the package's)")
    parser.add_argument("--lanes", type=int, default=1)
    parser.add_argument("--width", type=int, default=18)
    parser.add_argument("--max-qubits", type=int, default=None)
    parser.add_argument("--adjoint", action="store_true",
                        help="add bank B (lambda) for the on-chip adjoint gradient (RUN_ADJOINT)")
    args = parser.parse_args(argv)
    board = load_board(args.board)
    overlay = planned_overlay(board, args.lanes, args.width, args.max_qubits, args.adjoint)
    if state_memory_cost(overlay.params, board) is None:
        states = "state pair (psi and lambda, --adjoint)" if args.adjoint else "state"
        print(f"make bitstream: a {overlay.max_qubits}-qubit {states} does not fit {board.name}'s "
              f"memory; at most {largest_state(board, args.lanes, args.width, args.adjoint)} qubits "
              f"with {args.lanes} lane(s)", file=sys.stderr)
        return 1
    return build(board, overlay, args.manifest)


if __name__ == "__main__":
    sys.exit(main())
