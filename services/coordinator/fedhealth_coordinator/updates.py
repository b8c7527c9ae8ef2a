"""Checks on one hospital's plaintext update before it is averaged.

A malformed update (a tensor missing or extra, a wrong shape, NaN or infinity, a sample
count the hospital cannot have) is rejected: the hospital is dropped from that round with
the reason recorded, instead of failing the run or silently broadcasting into the model.
Under secure aggregation the coordinator only sees the masked sum, so these checks apply
to plaintext rounds; the secure path checks vector length and weight on the node side.
"""

from __future__ import annotations

import numpy as np

from fedhealth.errors import ProtocolError
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.wire import Weights, from_tensor_list


def accept_update(result: pb.FitResult, weights: Weights, n_train: int) -> tuple[Weights, int]:
    """The decoded update and its sample count; `ProtocolError` naming what is wrong."""
    update = from_tensor_list(result.update)
    missing, extra = sorted(set(weights) - set(update)), sorted(set(update) - set(weights))
    if missing or extra:
        raise ProtocolError(f"update tensors differ from the model's: missing {missing[:3]}, "
                            f"unexpected {extra[:3]}")
    for name, w in weights.items():
        u = update[name]
        if u.shape != w.shape:
            raise ProtocolError(f"update {name!r} has shape {list(u.shape)}, the model's is "
                                f"{list(w.shape)}")
        if not np.isfinite(u).all():
            raise ProtocolError(f"update {name!r} holds NaN or infinite values")
    n = int(result.num_examples)
    if not 1 <= n <= n_train:
        raise ProtocolError(f"update claims {n} training records; the hospital joined with "
                            f"{n_train}")
    return update, n
