"""Where the benchmarks' service processes keep their bytecode, as their images have it compiled.

This development environment sets PYTHONDONTWRITEBYTECODE, so a process would compile numpy, pyarrow,
aiokafka and pydantic from source at every start (about 1 s of CPU); a deployed image has them compiled
(`UV_COMPILE_BYTECODE=1`, `compileall`). The benchmarks point the processes at a cache of their own under
.local (nothing is written into the venv or the sources).
"""

from __future__ import annotations

from devstack import paths

CACHE = {"PYTHONPYCACHEPREFIX": str(paths.LOCAL / "pycache")}
"""read the bytecode from the benchmarks' cache (written only where WRITE is added too)"""
WRITE = {"PYTHONDONTWRITEBYTECODE": ""}
"""and write what is missing there"""
