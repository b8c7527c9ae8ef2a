"""Checks on what one hospital sends before the coordinator uses it.

A malformed plaintext update (a tensor missing or extra, a wrong shape, NaN or infinity, a sample
count the hospital cannot have) is rejected: the hospital is dropped from that round with
the reason recorded, instead of failing the run or silently broadcasting into the model.
Under secure aggregation the coordinator only sees the masked sum, so these checks apply
to plaintext rounds; the secure path checks vector length and weight on the node side.
Feature statistics of the wrong length, non-finite, negative sums of squares or more
records than the hospital joined with are left out of the federated scaling.
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


def accept_stats(result: pb.StatsResult, n_features: int, n_train: int) -> None:
    """`ProtocolError` unless the feature statistics can be summed into the scaling."""
    if not 1 <= result.count <= n_train:
        raise ProtocolError(f"statistics over {result.count} records; the hospital joined "
                            f"with {n_train}")
    if len(result.sum) != n_features or len(result.sum_sq) != n_features:
        raise ProtocolError(f"statistics for {len(result.sum)}/{len(result.sum_sq)} features, "
                            f"the data has {n_features}")
    s, sq = np.asarray(result.sum), np.asarray(result.sum_sq)
    if not (np.isfinite(s).all() and np.isfinite(sq).all() and (sq >= 0).all()):
        raise ProtocolError("statistics hold NaN, infinite or negative sums of squares")
