"""numpy arrays as Arrow arrays without `pa.array`, and a producer process without pandas.

pyarrow asks pandas whether a numpy array is categorical; importing pandas costs each reading process
about 0.9 s and 60 MB of RSS for nothing. These wrap the numpy buffer instead (no copy for numbers).
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

import numpy as np
import pyarrow as pa


def arrow(values: Any, type_: pa.DataType | None = None) -> pa.Array:
    """A 1-d numpy array of numbers or booleans as an Arrow array (of `type_`, e.g. a timestamp over int64)."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    kind = type_ or pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def binaries(values: list[bytes], type_: pa.DataType | None = None) -> pa.Array:
    """A list of bytes as an Arrow binary array (`type_`: pa.string() when they are UTF-8 text)."""
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    offsets = np.zeros(len(values) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = pa.py_buffer(b"".join(values))
    return pa.Array.from_buffers(type_ or pa.binary(), len(values), [None, pa.py_buffer(offsets), data])


def strings(values: list[str]) -> pa.Array:
    return binaries([value.encode() for value in values], pa.string())


def bools(values: pa.Array | pa.ChunkedArray) -> Any:
    """An Arrow boolean array as numpy (nulls read False), without `to_numpy`'s pandas path."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not len(values):
        return np.zeros(0, bool)
    validity, data = values.buffers()
    bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[values.offset : values.offset + len(values)]
    out = bits.astype(bool)
    if validity is not None and values.null_count:
        valid = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
        out &= valid[values.offset : values.offset + len(values)].astype(bool)
    return out


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is kept out of the producer (services/producer/arrays.py)", name=name)


def keep_pandas_out() -> None:
    """Make `import pandas` fail in this process (the producer's and its reading processes'): pyarrow then
    runs without its pandas integration instead of importing pandas on its first array or scalar, which
    costs each process about 0.9 s of CPU and 60 MB. Nothing in the producer uses pandas."""
    if "pandas" not in sys.modules and not any(isinstance(finder, _NoPandas) for finder in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())
