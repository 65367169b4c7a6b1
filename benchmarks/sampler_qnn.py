"""SamplerQNN training with qfab's exact sampler gradient against qiskit-machine-learning's default.

    .venv/bin/python benchmarks/sampler_qnn.py [--samples 40] [--iterations 25] [--shots 1024]

A 2-qubit parity classifier (``zz_feature_map`` + ``real_amplitudes``, outcome parity as the class,
``NeuralNetworkClassifier`` with ADAM, cross-entropy) on a small two-moons set, trained three ways
with the same start and data: qfab's ``SamplerV2`` with ``QfabSamplerGradient`` (exact probability
gradients, every shifted circuit in one batch), qfab's ``SamplerV2`` with the library's default
``ParamShiftSamplerGradient`` (shot-based probabilities, ``--shots`` per circuit), and Qiskit's
``StatevectorSampler`` with that default. Prints training time, final loss and train/test
accuracy per configuration (the gradient's error is what separates the accuracies; the sampler
forward pass is the same shots-based one in all three).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.primitives import StatevectorSampler
from qiskit_machine_learning.algorithms import NeuralNetworkClassifier
from qiskit_machine_learning.gradients import ParamShiftSamplerGradient
from qiskit_machine_learning.neural_networks import SamplerQNN
from qiskit_machine_learning.optimizers import ADAM
from sklearn.datasets import make_moons

from qfab.qiskit import QfabSamplerGradient, SamplerV2


def parity(x: int) -> int:
    return bin(x).count("1") % 2


def train(sampler, gradient, data, iterations: int, seed: int):
    (x_train, y_train), (x_test, y_test) = data
    features, ansatz = zz_feature_map(2), real_amplitudes(2, reps=2)
    circuit = features.compose(ansatz).measure_all(inplace=False)
    qnn = SamplerQNN(circuit=circuit, sampler=sampler, input_params=list(features.parameters),
                     weight_params=list(ansatz.parameters), interpret=parity, output_shape=2,
                     gradient=gradient)
    losses = []
    classifier = NeuralNetworkClassifier(
        qnn, optimizer=ADAM(maxiter=iterations, lr=0.1), loss="cross_entropy", one_hot=True,
        initial_point=np.random.default_rng(seed).uniform(-np.pi, np.pi, qnn.num_weights),
        callback=lambda *arguments: losses.append(float(arguments[-1])))
    start = time.perf_counter()
    classifier.fit(x_train, np.eye(2)[y_train])
    seconds = time.perf_counter() - start
    accuracy = (float(np.mean(np.argmax(classifier.predict(x_train), axis=1) == y_train)),
                float(np.mean(np.argmax(classifier.predict(x_test), axis=1) == y_test)))
    return seconds, (losses[-1] if losses else float("nan")), accuracy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--iterations", type=int, default=25)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    x, y = make_moons(2 * args.samples, noise=0.1, random_state=args.seed)
    x = (x - x.min(axis=0)) / (x.max(axis=0) - x.min(axis=0)) * np.pi
    data = ((x[: args.samples], y[: args.samples]), (x[args.samples:], y[args.samples:]))
    configurations = {
        "qfab SamplerV2 + QfabSamplerGradient (exact)": (SamplerV2(default_shots=args.shots, seed=1),
                                                          QfabSamplerGradient(device="cpu")),
        "qfab SamplerV2 + ParamShiftSamplerGradient (shots)": (
            SamplerV2(default_shots=args.shots, seed=1), None),
        "qiskit StatevectorSampler + ParamShiftSamplerGradient (shots)": (
            StatevectorSampler(default_shots=args.shots, seed=1), None),
    }
    print(f"{args.samples} training and {args.samples} test samples, {args.iterations} ADAM iterations, "
          f"{args.shots} shots per circuit")
    print("| configuration | training s | final loss | train accuracy | test accuracy |")
    print("|---|---|---|---|---|")
    for name, (sampler, gradient) in configurations.items():
        if gradient is None:
            gradient = ParamShiftSamplerGradient(sampler)
        seconds, loss, (train_accuracy, test_accuracy) = train(sampler, gradient, data, args.iterations, args.seed)
        print(f"| {name} | {seconds:.2f} | {loss:.4f} | {train_accuracy:.3f} | {test_accuracy:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
