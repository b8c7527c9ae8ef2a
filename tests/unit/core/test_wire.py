import numpy as np
import pytest

from fedhealth.errors import ProtocolError
from fedhealth.wire import from_tensor, from_tensor_list, to_tensor, to_tensor_list


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", "<i4", "<i8", "<u4", "u1", "<f2"])
def test_roundtrip_keeps_values_dtype_and_shape(dtype: str) -> None:
    a = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    t = to_tensor("w", a)
    assert len(t.data) == a.size * a.dtype.itemsize
    b = from_tensor(t)
    assert b.shape == a.shape and np.array_equal(a, b)
    assert b.dtype.kind == a.dtype.kind and b.dtype.itemsize == a.dtype.itemsize


def test_bytes_are_little_endian() -> None:
    t = to_tensor("x", np.array([1], dtype=">u4"))
    assert t.data == b"\x01\x00\x00\x00"


def test_truncated_tensor_is_refused() -> None:
    t = to_tensor("w", np.zeros((3, 3), np.float32))
    t.data = t.data[:-1]
    with pytest.raises(ProtocolError, match="'w'"):
        from_tensor(t)


def test_duplicate_names_refused_and_order_kept() -> None:
    tl = to_tensor_list({"b": np.ones(2, np.float32), "a": np.zeros(1, np.float32)})
    assert list(from_tensor_list(tl)) == ["b", "a"]
    tl.tensors.append(tl.tensors[0])
    with pytest.raises(ProtocolError, match="twice"):
        from_tensor_list(tl)


def test_unsupported_dtype_refused() -> None:
    with pytest.raises(ProtocolError):
        to_tensor("c", np.zeros(2, np.complex64))
