"""Co-design (design-space exploration): choose the hardware for a QML workload, and the circuit for the hardware.

>>> result = qfab.codesign("examples/digits_codesign.toml")   # = qfab.design.codesign
>>> print(result.table()); print(result.why); print("\\n".join(result.commands()))

Predicts every point of boards x core builds x device mixes x circuit variants (time to train,
numerical error, resources, trainability on the device) before building or running anything,
returns the Pareto front and a recommendation, and validates the predictions on what runs here
(:func:`validate`). ``qfab codesign WORKLOAD.toml`` writes the table, the Pareto plot and an HTML
report.
"""
from qfab.design.explore import CodesignResult, DesignPoint, codesign, pareto_front
from qfab.design.workload import BuildSpec, CodesignWorkload, Variant, WorkloadError, load_workload

__all__ = ["codesign", "CodesignResult", "DesignPoint", "pareto_front", "CodesignWorkload", "Variant", "BuildSpec",
           "WorkloadError", "load_workload"]
