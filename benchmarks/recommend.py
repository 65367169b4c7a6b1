"""``qfab.qml.recommend`` against a full training of every candidate of its default grid.

    .venv/bin/python benchmarks/recommend.py [--epochs 30] [--budget 60] [--splits 3] [--datasets iris,wine,...] [--json out.json]

Five small scikit-learn classification sets, standardised and reduced by PCA (iris versicolor vs
virginica, 4 features; wine classes 0 vs 1, PCA 4; breast cancer, 300 samples, PCA 4; digits 3 vs 8,
PCA 6; two moons, 300 samples with two extra noise features, 4 features), each split 70/30 into
train and test (stratified) ``--splits`` times with seeds 0, 1, ... (a test set of 30-107 samples
moves an accuracy by 1-3 points per sample, so one split alone says little about a 2-point goal). On the train part: ``recommend`` (timed), and as the
reference every candidate of ``default_grid()`` trained for the same ``--epochs`` with the same seed
(timed), scored on the test part. Since ``recommend`` forecasts the accuracy of exactly that
training (``QuantumClassifier(**rec.config, epochs=epochs, random_state=seed)`` on the same train
part), the achieved accuracy of the recommendation is the reference run of the chosen candidate.

Goals (issue 20): the recommendation's test accuracy within 2 points of the best candidate's; the
forecast within 5 points of the achieved accuracy; and the time of ``recommend`` against the grid's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def datasets(names):
    from sklearn import datasets as D
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    def reduce(X, k):
        X = StandardScaler().fit_transform(X)
        return PCA(k, random_state=0).fit_transform(X) if X.shape[1] > k else X

    out = {}
    for name in names:
        if name == "iris":
            X, y = D.load_iris(return_X_y=True)
            keep = y > 0
            out[name] = (reduce(X[keep], 4), y[keep], "versicolor vs virginica, 4 features")
        elif name == "wine":
            X, y = D.load_wine(return_X_y=True)
            keep = y < 2
            out[name] = (reduce(X[keep], 4), y[keep], "classes 0 vs 1, PCA 4")
        elif name == "breast_cancer":
            X, y = D.load_breast_cancer(return_X_y=True)
            rows = np.random.default_rng(0).choice(len(X), 300, replace=False)
            out[name] = (reduce(X[rows], 4), y[rows], "300 samples, PCA 4")
        elif name == "digits":
            X, y = D.load_digits(return_X_y=True)
            keep = (y == 3) | (y == 8)
            out[name] = (reduce(X[keep], 6), y[keep], "3 vs 8, PCA 6")
        elif name == "moons":
            X, y = D.make_moons(300, noise=0.2, random_state=0)
            noise = np.random.default_rng(0).normal(size=(300, 2))
            out[name] = (reduce(np.hstack([X, noise]), 4), y, "300 samples, 2 noise features added, 4 features")
        else:
            raise SystemExit(f"unknown data set {name!r}")
    return out


def run_split(X, y, seed, args):
    """One train/test split: ``recommend`` and the full grid on the train part, scored on the test part."""
    from sklearn.model_selection import train_test_split

    from qfab.qml.models import QuantumClassifier
    from qfab.qml.recommender import default_grid, recommend

    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    options = {} if args.folds is None else {"folds": args.folds}
    t0 = time.perf_counter()
    rec = recommend(X_tr, y_tr, budget_s=args.budget, seed=seed, epochs=args.epochs, **options)
    t_rec = time.perf_counter() - t0
    reference = {}
    t0 = time.perf_counter()
    for config in default_grid():
        model = QuantumClassifier(**config, epochs=args.epochs, random_state=seed).fit(X_tr, y_tr)
        reference[_name(config)] = model.score(X_te, y_te)
    t_grid = time.perf_counter() - t0
    achieved = reference[_name(rec.config)]  # the same training the forecast is for
    best = max(reference, key=reference.get)
    return dict(seed=seed, chosen=_name(rec.config), achieved=achieved, best=best, best_accuracy=reference[best],
                forecast=rec.forecast.accuracy, interval=rec.forecast.interval, measured=rec.forecast.measured,
                rank=1 + sum(v > achieved for v in reference.values()), test_size=len(y_te),
                recommend_s=t_rec, grid_s=t_grid, recommend_work=rec.work,
                grid_work=len(reference) * len(y_tr) * args.epochs, notes=rec.notes, reference=reference,
                table=[{k: row[k] for k in ("candidate", "rung", "val_accuracy", "forecast", "gradient_variance",
                                            "effective_dimension", "expressibility", "dropped")} for row in rec.table])


def _name(config):
    return "{ansatz}-L{layers}-{initializer}-{cost}-{encoding}".format(**config)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--datasets", default="iris,wine,breast_cancer,digits,moons")
    parser.add_argument("--splits", type=int, default=3, help="train/test splits per data set (seeds 0, 1, ...)")
    parser.add_argument("--folds", type=int, default=None, help="recommend's folds (default: its own)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    results = []
    for name, (X, y, what) in datasets(args.datasets.split(",")).items():
        splits = []
        for seed in range(args.splits):
            r = run_split(X, y, seed, args)
            splits.append(r)
            print(f"{name} split {seed}: chose {r['chosen']} test {r['achieved']:.1%} (best {r['best_accuracy']:.1%}), "
                  f"forecast {r['forecast']:.1%} [{r['interval'][0]:.1%}, {r['interval'][1]:.1%}]; "
                  f"recommend {r['recommend_s']:.1f} s, grid {r['grid_s']:.1f} s", file=sys.stderr, flush=True)
        results.append(dict(dataset=name, what=what, samples=len(y), features=X.shape[1], splits=splits))

    def pts(values):
        return "/".join(f"{100 * v:+.1f}".replace("+0.0", "0.0") for v in values)

    print(f"| data set (n, features; test n) | chosen set-ups | test acc. chosen / best (mean of {args.splits}) "
          "| best − chosen, pts (≤ 2: met) | forecast − achieved, pts (|·| ≤ 5: met) | achieved inside the 95% interval "
          "| recommend / full grid, s | time ratio | work ratio | consistent best: gap, pts |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        sp = r["splits"]
        gaps = [s["best_accuracy"] - s["achieved"] for s in sp]
        errors = [s["forecast"] - s["achieved"] for s in sp]
        inside = sum(s["interval"][0] <= s["achieved"] <= s["interval"][1] for s in sp)
        t_rec, t_grid = sum(s["recommend_s"] for s in sp), sum(s["grid_s"] for s in sp)
        chosen = ", ".join(dict.fromkeys(s["chosen"] for s in sp))
        # The noise floor of the 2-point goal: the candidate best on average over the splits (what
        # an oracle that knew the set-ups' true ranking would choose) against each split's maximum.
        consistent = max(sp[0]["reference"], key=lambda name: np.mean([s["reference"][name] for s in sp]))
        floor = [s["best_accuracy"] - s["reference"][consistent] for s in sp]
        print(f"| {r['dataset']} ({r['samples']}, {r['features']}; {sp[0]['test_size']}) | {chosen} | "
              f"{np.mean([s['achieved'] for s in sp]):.1%} / {np.mean([s['best_accuracy'] for s in sp]):.1%} | "
              f"{pts(gaps)} ({sum(g <= 0.02 + 1e-9 for g in gaps)}/{len(sp)} met) | "
              f"{pts(errors)} ({sum(abs(e) <= 0.05 + 1e-9 for e in errors)}/{len(sp)} met) | {inside}/{len(sp)} | "
              f"{t_rec:.0f} / {t_grid:.0f} | {t_rec / t_grid:.2f} | "
              f"{sum(s['recommend_work'] for s in sp) / sum(s['grid_work'] for s in sp):.2f} | "
              f"{pts(floor)} ({sum(g <= 0.02 + 1e-9 for g in floor)}/{len(sp)} ≤ 2) |")
    every = [s for r in results for s in r["splits"]]
    print(f"\nall {len(every)} splits: gap ≤ 2 pts in {sum(s['best_accuracy'] - s['achieved'] <= 0.02 + 1e-9 for s in every)}, "
          f"mean gap {100 * np.mean([s['best_accuracy'] - s['achieved'] for s in every]):.1f} pts; forecast within 5 pts in "
          f"{sum(abs(s['forecast'] - s['achieved']) <= 0.05 + 1e-9 for s in every)}, mean |error| "
          f"{100 * np.mean([abs(s['forecast'] - s['achieved']) for s in every]):.1f} pts; "
          f"time {sum(s['recommend_s'] for s in every):.0f} s against {sum(s['grid_s'] for s in every):.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
