"""The ``qfab`` command line: ``demo``, ``simulate``, ``info``, ``calibrate``, and the subcommands that
other packages own (``plateau``, ``codesign``, ``recommend``), which take the rest of the arguments themselves.

User errors (a missing file, a malformed OpenQASM program, an instruction qfab cannot simulate,
too little memory: every :class:`qfab.errors.QfabError`) end with a one-line message on stderr and
exit code 2, not a traceback; ``qfab --debug ...`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

__all__ = ["main"]

# Subcommands implemented elsewhere: name -> (module, function taking argv, help line).
DELEGATED = {
    "plateau": ("qfab.qml.trainability", "cli_main", "trainability report: gradient variance against qubits and depth"),
    "codesign": ("qfab.cli.codesign", "cli_main", "choose board, core build, device mix and circuit for a QML workload"),
    "mpi-plan": ("qfab.cli.mpi_plan", "cli_main",
                 "how many nodes and how long one state vector over MPI takes on a stated cluster"),
    "recommend": ("qfab.cli.recommend", "cli_main",
                  "race classifier set-ups on a CSV file, recommend one and forecast its test accuracy"),
}


def _demo(args) -> int:
    from qfab.cli.demo import run_demo, setup_name

    classes = tuple(int(c) for c in args.classes.split(","))
    result = run_demo(qubits=args.qubits, layers=args.layers, epochs=args.epochs, classes=classes,
                      seed=args.seed, report_dir=args.report, budget_s=args.budget)
    for line in result.verdict:
        print(line)
    for line in result.recommendation:
        print(line)
    print(f"digits {classes[0]} vs {classes[1]}: trained the recommended set-up ({result.setup}) for "
          f"{len(result.losses)} epochs of adjoint-gradient Adam on the CPU engine")
    print(f"achieved: test accuracy {result.test_accuracy:.1%}, train accuracy {result.train_accuracy:.1%}"
          + (f", test accuracy on the FPGA core's model {result.fpga_test_accuracy:.1%}"
             if result.fpga_test_accuracy is not None else ""))
    print(f"forecast before training: {result.forecast}")
    print(f"the trainability report's own choice ({setup_name(result.alternative)}): "
          f"test accuracy {result.alternative_test_accuracy:.1%}")
    print(f"time: {result.recommend_seconds:.1f} s recommend, {result.train_seconds:.1f} s training, "
          f"{result.compile_seconds:.1f} s first call (numba)")
    if result.plan_text:
        print(result.plan_text)
        print(result.run_report)
    print(f"report: {result.report} (plots beside it)")
    return 0


def _simulate(args) -> int:
    from qfab import api
    from qfab.core.frontend import load_qasm
    from qfab.errors import InputError

    path = Path(args.file)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    circuit = load_qasm(path)
    params = np.zeros(0)
    if args.params:
        try:
            params = np.array([float(v) for v in args.params.split(",")])
        except ValueError as err:
            raise InputError(f"--params {args.params!r}: give numbers separated by commas ({err})") from err
    if circuit.num_parameters and len(params) != circuit.num_parameters:
        raise InputError(f"{path} has {circuit.num_parameters} free parameters {list(circuit.parameters)}; "
                         f"give their values with --params v1,v2,...")
    if args.shots:
        counts = api.sample(circuit, params, shots=args.shots, seed=args.seed, device=args.device)
        for key, count in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"{key} {count}")
        return 0
    state = api.statevector(circuit, params, device=args.device)
    width = circuit.num_qubits
    for index in np.nonzero(np.abs(state) > 1e-12)[0][:64]:
        amp = state[index]
        print(f"|{index:0{width}b}>  {amp.real:+.6f}{amp.imag:+.6f}j  p={abs(amp) ** 2:.6f}")
    return 0


def _info(args) -> int:
    import numba
    import psutil

    from qfab.backends import device_status

    memory = psutil.virtual_memory()
    print(f"qfab {__import__('qfab').__version__}; {psutil.cpu_count()} cores, numba threads "
          f"{numba.get_num_threads()}, {memory.available / 2**30:.1f} GiB of {memory.total / 2**30:.1f} GiB free")
    for name, (device, reason) in device_status().items():
        if device is None:
            print(f"  {name:6s} unavailable: {reason}")
            continue
        caps = device.capabilities
        print(f"  {name:6s} up to {caps.max_qubits} qubits; precisions {', '.join(caps.precisions)}; "
              f"{'deterministic' if caps.exact else 'shot-based'}; gradients: {', '.join(caps.gradient_methods)}")
        details = ", ".join(f"{k}={v}" for k, v in device.profile().parameters.items())
        if details:
            print(f"         {details}")
    return 0


def _calibrate(args) -> int:
    import json

    from qfab.scheduling.calibrate import calibrate

    path = calibrate(args.devices.split(",") if args.devices else None, repeats=args.repeats)
    for name, entry in json.loads(path.read_text())["devices"].items():
        fitted = ", ".join(f"{k}={v:.3g}" for k, v in entry["parameters"].items()) or "defaults (nothing to fit)"
        print(f"  {name:6s} {entry['kind']}: {fitted}")
    print(f"profile: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qfab", description="Parameterized quantum circuits on a fabric of devices.",
        epilog="A problem with what was asked (a file, a circuit, a value, too little memory) ends with one line "
               "on stderr and exit code 2; --debug shows its traceback.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a quantum classifier on scikit-learn's digits (the main job)")
    demo.add_argument("--qubits", type=int, default=8)
    demo.add_argument("--layers", type=int, default=2)
    demo.add_argument("--epochs", type=int, default=40)
    demo.add_argument("--classes", default="3,5", help="two digits, e.g. 3,5")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--budget", type=float, default=60, help="seconds the set-up race (qfab.qml.recommend) may take")
    demo.add_argument("--report", default="qfab-report", help="folder for the plots")
    demo.set_defaults(run=_demo)
    simulate = commands.add_parser("simulate", help="simulate an OpenQASM 2 or 3 file")
    simulate.add_argument("file")
    simulate.add_argument("--shots", type=int, default=0, help="sample counts instead of printing the state")
    simulate.add_argument("--seed", type=int)
    simulate.add_argument("--params", help="comma-separated values of the circuit's free parameters")
    simulate.add_argument("--device", default="cpu")
    simulate.set_defaults(run=_simulate)
    info = commands.add_parser("info", help="list the devices found and what they can do")
    info.set_defaults(run=_info)
    calibrate = commands.add_parser("calibrate", help="time micro-benchmarks and store this machine's cost-model profile")
    calibrate.add_argument("--devices", help="comma-separated device names (default: every available device)")
    calibrate.add_argument("--repeats", type=int, default=3)
    calibrate.set_defaults(run=_calibrate)
    for name, (_, _, line) in DELEGATED.items():
        commands.add_parser(name, help=line + f" (qfab {name} --help)", add_help=False)
    return parser


def _is_user_error(err: BaseException) -> bool:
    """Whether ``err`` reports a problem with what was asked (one line, exit code 2) rather than a bug.

    Every :class:`~qfab.errors.QfabError`; the error types the other qfab packages define (their
    board, workload, manifest and device errors); ``ValueError`` (a bad value); and the file errors
    (missing, a directory, no permission)."""
    from qfab.errors import QfabError

    if isinstance(err, (QfabError, ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
                        PermissionError)):
        return True
    return any(cls.__module__.split(".")[0] in ("qfab", "qfab_hw") for cls in type(err).__mro__)


def one_line(err: BaseException) -> str:
    """``err``'s message on one line (a multi-line message's lines joined by "; "), never empty."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        lines = [f"{err.strerror}: {err.filename}"]  # "[Errno 2] ..." says less than this
    return "; ".join(lines) or type(err).__name__


def _report(command: str, err: BaseException) -> int:
    print(f"qfab {command}: {one_line(err)}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = False
    while argv and argv[0] == "--debug":  # the global flag, also before a delegated subcommand
        debug = True
        argv.pop(0)
    if argv and argv[0] in DELEGATED:
        import importlib

        module, function, _ = DELEGATED[argv[0]]
        try:
            return getattr(importlib.import_module(module), function)(argv[1:])
        except Exception as err:
            if debug or not _is_user_error(err):
                raise
            return _report(argv[0], err)
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except Exception as err:
        if debug or args.debug or not _is_user_error(err):
            raise
        return _report(args.command, err)


if __name__ == "__main__":
    sys.exit(main())
