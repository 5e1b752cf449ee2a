"""Imported by the build's fork server (after `_pool_threads`) where numba is installed: loads
the simulator's numba kernels and runs them once, so every worker forks with them loaded and
set up. Their load (~0.5 s) is then paid once per build instead of once per worker, and the
workers simulate the recipes' uint8 frames without importing torch (see
`eventsim.simulator.EventSimulator`). Only the fork server imports this module.
"""

from eventsim.simulator.core import preload_kernels

preload_kernels()
