"""Imported first by the build's fork server, before numpy, OpenCV and torch load their BLAS and
OpenMP libraries: with these variables set those libraries start without a thread pool.

Without them each OpenBLAS (numpy's and OpenCV's) starts a server thread in the fork server and
again in every worker, which spins on ``sched_yield`` for a while after starting; that spinning
was about a third of what a pool build spent beyond an in-process one, and on a loaded machine it
competes with the workers for this build's share of the CPUs. It also leaves the fork server
with no thread when it forks. Build workers run one compute thread each anyway (see
`eventsim.datasets.engine._pool_worker_init`), so results do not change. Only the fork server
imports this module; it changes nothing in the process that runs the build.
"""

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"
