"""Reading and checking store files, with errors that name the file.

A run counts as finished once its ``run.json`` exists, because that file is
written last. The files beside it can still be lost or cut short later, for
example by a partial copy of the store. The checks here find that by reading
headers only (the ``.npy`` header and the safetensors header) and comparing
the sizes they declare with the file's size, so checking never loads a whole
array.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format
from safetensors import SafetensorError, safe_open

NPY_HEADER_READERS = {
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
}
JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


class StoreError(ValueError):
    """A file or folder of the run store is missing, unreadable or unusable."""


def json_type_name(value: Any) -> str:
    """Return the JSON name of a parsed value's type, for messages."""
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def read_json(path: Path) -> Any:
    """Parse a JSON file, raising ``StoreError`` that names it when it is unusable."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(f"{path} is missing") from None
    except (OSError, ValueError) as error:
        raise StoreError(f"{path} is not valid JSON: {error}") from error


def read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Return the shape and dtype that a ``.npy`` file declares.

    Raises ``StoreError`` when the header is unreadable, when the array contains
    Python objects (which load only with pickle), or when the file's size
    differs from the size the header declares, which is how a cut-short copy
    shows.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            version = npy_format.read_magic(handle)
            reader = NPY_HEADER_READERS.get(version)
            if reader is None:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = reader(handle)
            data_start = handle.tell()
    except FileNotFoundError:
        raise StoreError(f"{path} is missing") from None
    except (OSError, ValueError) as error:
        raise StoreError(f"{path} has no readable .npy header: {error}") from error
    if dtype.hasobject:
        raise StoreError(f"{path} contains Python objects, expected a numeric array")
    expected = data_start + math.prod(shape) * dtype.itemsize
    found = path.stat().st_size
    if found != expected:
        state = "cut short" if found < expected else "longer than its header says"
        raise StoreError(
            f"{path} is {state}: its header declares a {dtype} array of shape "
            f"{shape}, which takes {expected} bytes, but the file has {found} bytes"
        )
    return shape, dtype


def check_safetensors(path: Path) -> None:
    """Raise ``StoreError`` unless ``path`` has a whole safetensors header.

    safetensors rejects a header whose tensors do not cover the file exactly,
    so a cut-short file fails here without reading the tensors.
    """
    with safetensors_errors(path), safe_open(str(path), framework="pt"):
        pass


@contextmanager
def safetensors_errors(path: Path) -> Iterator[None]:
    """Turn a missing or unreadable safetensors file into a ``StoreError``."""
    try:
        yield
    except FileNotFoundError:
        raise StoreError(f"{path} is missing") from None
    except (OSError, SafetensorError) as error:
        raise StoreError(
            f"{path} is not a readable safetensors file: {error}"
        ) from error
