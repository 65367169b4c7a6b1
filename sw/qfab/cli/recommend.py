"""``qfab recommend DATA.csv``: race qfab's classifier set-ups on a CSV file and forecast the winner's accuracy."""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["cli_main", "load_csv", "parse_candidate"]


def load_csv(path, label_column: str | None = None):
    """``(X, y, feature names, label name)`` from a CSV file with a header row; the label column is
    ``label_column`` (a name or a 0-based index), by default the last one; every other column must be numeric."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    with path.open(newline="") as f:
        rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    if len(rows) < 3:
        raise ValueError(f"{path}: needs a header row and at least two data rows")
    header, data = [h.strip() for h in rows[0]], rows[1:]
    if any(len(row) != len(header) for row in data):
        bad = next(i for i, row in enumerate(data, start=2) if len(row) != len(header))
        raise ValueError(f"{path}:{bad}: {len(data[bad - 2])} fields, the header has {len(header)}")
    if label_column is None:
        index = len(header) - 1
    elif label_column in header:
        index = header.index(label_column)
    elif label_column.lstrip("-").isdigit() and -len(header) <= int(label_column) < len(header):
        index = int(label_column) % len(header)
    else:
        raise ValueError(f"{path}: no column {label_column!r}; columns are {', '.join(header)}")
    features = [j for j in range(len(header)) if j != index]
    if not features:
        raise ValueError(f"{path}: no feature columns besides the label {header[index]!r}")
    X = np.empty((len(data), len(features)))
    for j, col in enumerate(features):
        for i, row in enumerate(data):
            try:
                X[i, j] = float(row[col])
            except ValueError:
                raise ValueError(f"{path}:{i + 2}: column {header[col]!r} holds {row[col]!r}, not a number "
                                 f"(choose the label with --label-column)") from None
    y = np.array([row[index].strip() for row in data])
    try:  # numeric labels stay numbers
        y = y.astype(float)
        if np.all(y == np.round(y)):
            y = y.astype(int)
    except ValueError:
        pass
    return X, y, [header[j] for j in features], header[index]


def parse_candidate(text: str) -> dict:
    """``ansatz-L<layers>-<initializer>-<cost>-<encoding>`` (the names in the report's table)."""
    parts = text.strip().split("-")
    if len(parts) != 5 or not parts[1].startswith("L") or not parts[1][1:].isdigit():
        raise ValueError(f"candidate {text!r}: write ansatz-L<layers>-<initializer>-<cost>-<encoding>, "
                         "e.g. hea-L3-small_angle-local-angle")
    return dict(ansatz=parts[0], layers=int(parts[1][1:]), initializer=parts[2], cost=parts[3], encoding=parts[4])


def cli_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="qfab recommend",
        description="Before training: race qfab's classifier set-ups (ansatz x depth x initialisation x cost x "
                    "encoding) briefly on the data, and recommend the one forecast to train best, with the "
                    "forecast test accuracy and its interval.")
    parser.add_argument("data", help="CSV file with a header row; numeric features and one label column")
    parser.add_argument("--label-column", default=None, help="name or 0-based index of the label column (default: last)")
    parser.add_argument("--budget", type=float, default=60, help="seconds for the race (default 60)")
    parser.add_argument("--epochs", type=int, default=30, help="training length the forecast is for (default 30)")
    parser.add_argument("--qubits", type=int, default=None, help="drop set-ups needing more qubits than this")
    parser.add_argument("--candidates", default=None,
                        help="comma-separated set-ups ansatz-L<layers>-<init>-<cost>-<encoding> (default: the 24 of the default grid)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", default=None, help="write an HTML report (plots embedded) to this file")
    args = parser.parse_args(argv)
    if args.budget <= 0 or args.epochs < 1:
        raise ValueError("--budget must be positive and --epochs at least 1")

    from qfab.qml.recommender import recommend

    X, y, _, label = load_csv(args.data, args.label_column)
    candidates = [parse_candidate(c) for c in args.candidates.split(",")] if args.candidates else None
    rec = recommend(X, y, qubits=args.qubits, budget_s=args.budget, candidates=candidates, seed=args.seed,
                    epochs=args.epochs)
    print(f"{args.data}: {len(y)} samples, {X.shape[1]} features, label {label!r} ({len(np.unique(y))} classes)")
    print("\n".join(rec.summary()))
    print("use: QuantumClassifier(" + ", ".join(f"{k}={v!r}" for k, v in rec.config.items()) + f", epochs={rec.epochs})")
    if args.report:
        print(f"report: {rec.report(args.report)}")
    return 0
