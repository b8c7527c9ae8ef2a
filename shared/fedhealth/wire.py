"""Tensors on the wire: numpy arrays <-> `fedhealth.v1.Tensor` (little-endian bytes)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fedhealth.errors import ProtocolError
from fedhealth.v1 import tensor_pb2

_TO_PROTO: dict[np.dtype, int] = {
    np.dtype("<f4"): tensor_pb2.DTYPE_FLOAT32,
    np.dtype("<f8"): tensor_pb2.DTYPE_FLOAT64,
    np.dtype("<i4"): tensor_pb2.DTYPE_INT32,
    np.dtype("<i8"): tensor_pb2.DTYPE_INT64,
    np.dtype("<u4"): tensor_pb2.DTYPE_UINT32,
    np.dtype("u1"): tensor_pb2.DTYPE_UINT8,
    np.dtype("<f2"): tensor_pb2.DTYPE_FLOAT16,
}
_FROM_PROTO = {v: k for k, v in _TO_PROTO.items()}

Weights = dict[str, np.ndarray]


def to_tensor(name: str, array: np.ndarray) -> tensor_pb2.Tensor:
    """Encode one array; the dtype is converted to its little-endian form first."""
    array = np.asarray(array)
    le = array.dtype.newbyteorder("<")
    if le not in _TO_PROTO:
        raise ProtocolError(f"tensor {name!r}: dtype {array.dtype} cannot travel on the wire")
    data = np.ascontiguousarray(array, dtype=le).tobytes()
    return tensor_pb2.Tensor(name=name, dtype=_TO_PROTO[le], shape=list(array.shape), data=data)


def from_tensor(t: tensor_pb2.Tensor) -> np.ndarray:
    """Decode one tensor, checking that its byte length matches dtype and shape."""
    if t.dtype not in _FROM_PROTO:
        raise ProtocolError(f"tensor {t.name!r}: unknown dtype {t.dtype}")
    dtype = _FROM_PROTO[t.dtype]
    shape = tuple(int(s) for s in t.shape)
    if any(s < 0 for s in shape):
        raise ProtocolError(f"tensor {t.name!r}: negative dimension in shape {shape}")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(t.data) != expected:
        raise ProtocolError(
            f"tensor {t.name!r}: {len(t.data)} bytes, expected {expected} for {dtype} {shape}"
        )
    return np.frombuffer(t.data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def to_tensor_list(weights: Mapping[str, np.ndarray]) -> tensor_pb2.TensorList:
    """Encode named arrays in their given order."""
    return tensor_pb2.TensorList(tensors=[to_tensor(k, v) for k, v in weights.items()])


def from_tensor_list(tl: tensor_pb2.TensorList) -> Weights:
    """Decode named arrays, refusing duplicate names."""
    out: Weights = {}
    for t in tl.tensors:
        if t.name in out:
            raise ProtocolError(f"tensor {t.name!r} appears twice")
        out[t.name] = from_tensor(t)
    return out
