"""A PyTorch ``torch.save`` file read as data, without unpickling.

faceswap saves its optimizer's ``state_dict`` with ``torch.save`` into ``optimizer.pt``: a zip
holding ``<archive>/data.pkl`` (a pickle describing dicts, lists, numbers and tensors) and one raw
little-endian buffer per tensor storage (``<archive>/data/<key>``). Unpickling runs whatever the
pickle names, so the pickle is never loaded: :func:`pickletools.genops` only decodes its opcodes,
and this module interprets the handful a ``state_dict`` uses, with exactly three callables allowed
by name (``torch._utils._rebuild_tensor_v2``, ``collections.OrderedDict`` and the typed storage
classes), none of them called. Anything else refuses the file. Tensors come back as NumPy arrays
read from their storage buffers.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

STORAGES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "BoolStorage": np.bool_,
}
_REBUILD = ("torch._utils", "_rebuild_tensor_v2")
_ORDERED_DICT = ("collections", "OrderedDict")
MAX_PICKLE_BYTES = 64 * 1024 * 1024


class TorchFileError(ValueError):
    """The file is not a plain ``state_dict`` this reader can take (the message says why)."""


@attrs.frozen
class _Global:
    module: str
    name: str


@attrs.frozen
class _Storage:
    key: str
    dtype: Any
    count: int


_MARK = object()


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, flat: np.ndarray) -> np.ndarray:
    """``_rebuild_tensor_v2(storage, offset, size, stride, ...)`` as a view of ``flat``."""
    shape = tuple(int(n) for n in size)
    expected: list[int] = []
    running = 1
    for extent in reversed(shape):
        expected.insert(0, running)
        running *= extent
    if tuple(int(n) for n in stride) != tuple(expected) and running > 1:
        raise TorchFileError("a non-contiguous tensor")
    start = int(offset)
    if start < 0 or start + running > flat.size:
        raise TorchFileError("a tensor larger than its storage")
    return flat[start : start + running].reshape(shape)


_CONSTANTS = {"NEWFALSE": False, "NEWTRUE": True, "NONE": None}
_EMPTY = {"EMPTY_DICT": dict, "EMPTY_LIST": list, "EMPTY_TUPLE": tuple}
_VALUES = ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINFLOAT")
_INTS = ("BININT", "BININT1", "BININT2", "LONG1")


class _Machine:
    """A stack machine for the opcodes a ``state_dict`` pickle uses (plain data only)."""

    def __init__(self, read: Callable[[_Storage], np.ndarray]) -> None:
        self.read = read
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}

    def pop_mark(self) -> list[Any]:
        items: list[Any] = []
        while self.stack:
            item = self.stack.pop()
            if item is _MARK:
                return items[::-1]
            items.append(item)
        raise TorchFileError("unbalanced pickle")

    def step(self, name: str, arg: Any) -> None:
        stack = self.stack
        if name in _EMPTY:
            stack.append(_EMPTY[name]())
        elif name in _CONSTANTS:
            stack.append(_CONSTANTS[name])
        elif name in _VALUES:
            stack.append(arg)
        elif name in _INTS:
            stack.append(int(arg))
        elif name == "MARK":
            stack.append(_MARK)
        elif name in ("BINPUT", "LONG_BINPUT", "MEMOIZE"):
            self.memo[len(self.memo) if name == "MEMOIZE" else int(arg)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            stack.append(self.memo[int(arg)])
        elif name == "TUPLE":
            stack.append(tuple(self.pop_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            count = int(name[-1])
            items = tuple(stack[-count:])
            del stack[-count:]
            stack.append(items)
        else:
            self.structure(name, arg)

    def structure(self, name: str, arg: Any) -> None:
        stack = self.stack
        if name in ("SETITEMS", "SETITEM"):
            items = self.pop_mark() if name == "SETITEMS" else [stack.pop(-2), stack.pop()]
            if not isinstance(stack[-1], dict) or len(items) % 2:
                raise TorchFileError("malformed dict in pickle")
            stack[-1].update(zip(items[::2], items[1::2]))
        elif name in ("APPENDS", "APPEND"):
            items = self.pop_mark() if name == "APPENDS" else [stack.pop()]
            if not isinstance(stack[-1], list):
                raise TorchFileError("malformed list in pickle")
            stack[-1].extend(items)
        elif name == "GLOBAL":
            module, _, attribute = str(arg).partition(" ")
            allowed = (module, attribute) in (_REBUILD, _ORDERED_DICT) or (
                module == "torch" and attribute in STORAGES
            )
            if not allowed:
                raise TorchFileError(f"the pickle names {module}.{attribute}, which is not data")
            stack.append(_Global(module, attribute))
        elif name == "BINPERSID":
            stack.append(self.storage(stack.pop()))
        elif name == "REDUCE":
            arguments, function = stack.pop(), stack.pop()
            stack.append(self.reduce(function, arguments))
        else:
            raise TorchFileError(f"unsupported pickle opcode {name}")

    def storage(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise TorchFileError("an unknown persistent object")
        kind = pid[1]
        if not isinstance(kind, _Global) or kind.name not in STORAGES:
            raise TorchFileError("an unknown storage type")
        return _Storage(str(pid[2]), STORAGES[kind.name], int(pid[4]))

    def reduce(self, function: Any, arguments: Any) -> Any:
        if function == _Global(*_ORDERED_DICT) and arguments == ():
            return {}
        if function == _Global(*_REBUILD) and isinstance(arguments, tuple) and len(arguments) >= 4:
            storage = arguments[0]
            if not isinstance(storage, _Storage):
                raise TorchFileError("a tensor without a storage")
            return _tensor(storage, arguments[1], arguments[2], arguments[3], self.read(storage))
        raise TorchFileError("the pickle calls something other than a tensor rebuild")


def _interpret(pickle_bytes: bytes, read: Callable[[_Storage], np.ndarray]) -> Any:
    """Run the pickle's opcodes on a stack of plain data (see the module docstring)."""
    machine = _Machine(read)
    for opcode, arg, _ in pickletools.genops(pickle_bytes):
        if opcode.name in ("PROTO", "FRAME"):
            continue
        if opcode.name == "STOP":
            if len(machine.stack) != 1:
                raise TorchFileError("unbalanced pickle")
            return machine.stack[0]
        machine.step(opcode.name, arg)
    raise TorchFileError("the pickle has no end")


def read_torch_state(data: bytes) -> Any:
    """The object ``torch.save`` stored in ``data`` (dicts, lists, numbers, NumPy arrays)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise TorchFileError(f"not a torch zip file ({error})") from None
    with archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise TorchFileError("no single data.pkl")
        root = pickles[0].split("/")[0]
        if f"{root}/byteorder" in names and archive.read(f"{root}/byteorder").strip() != b"little":
            raise TorchFileError("a big-endian file")
        info = archive.getinfo(pickles[0])
        if info.file_size > MAX_PICKLE_BYTES:
            raise TorchFileError("data.pkl is too large")
        cache: dict[str, np.ndarray] = {}

        def read(storage: _Storage) -> np.ndarray:
            if storage.key not in cache:
                member = f"{root}/data/{storage.key}"
                if member not in names:
                    raise TorchFileError(f"storage {storage.key} is missing")
                info = archive.getinfo(member)
                if info.file_size > max(1024 * 1024, 200 * info.compress_size):
                    raise TorchFileError(f"storage {storage.key} expands too much")
                raw = archive.read(member)
                dtype = np.dtype(storage.dtype).newbyteorder("<")
                if len(raw) < storage.count * dtype.itemsize:
                    raise TorchFileError(f"storage {storage.key} is truncated")
                cache[storage.key] = np.frombuffer(raw, dtype=dtype, count=storage.count)
            return cache[storage.key]

        try:
            return _interpret(archive.read(pickles[0]), read)
        except (IndexError, KeyError, TypeError, ValueError) as error:
            if isinstance(error, TorchFileError):
                raise
            raise TorchFileError(f"malformed pickle ({error})") from None
