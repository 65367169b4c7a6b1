"""Scheduling qfab jobs over every device: cost models, the partitioner, the runtime, Dask.

>>> work = qfab.Workload(); work.add(circ, obs, params, gradient=True)
>>> plan = qfab.plan(work); print(plan.explain()); result = qfab.run(plan); print(result.report())
"""
from qfab.scheduling.calibrate import calibrate, load_profile
from qfab.scheduling.history import History
from qfab.scheduling.planner import Plan, Task, plan
from qfab.scheduling.runtime import RunResult, run
from qfab.scheduling.workload import Workload

__all__ = ["Workload", "plan", "Plan", "Task", "run", "RunResult", "calibrate", "load_profile", "History"]
