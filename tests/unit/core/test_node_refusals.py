"""Which coordinator tasks a node that requires DP will run: only training under DP."""

from __future__ import annotations

import pytest

from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth_node.client import trains_privately
from fedhealth_node.settings import NodeSettings


def _fit(dp: bool) -> pb.FitTask:
    cfg = pb.TrainConfig(dp=pb.DPConfig(target_epsilon=1.0, delta=1e-5)) if dp else pb.TrainConfig()
    return pb.FitTask(config=cfg)


@pytest.mark.parametrize(("task", "kind", "private"), [
    (pb.Task(fit=_fit(True)), "fit", True),
    (pb.Task(fit=_fit(False)), "fit", False),
    (pb.Task(advertise_keys=pb.AdvertiseKeysTask(fit=_fit(True))), "advertise_keys", True),
    (pb.Task(advertise_keys=pb.AdvertiseKeysTask(fit=_fit(False))), "advertise_keys", False),
    (pb.Task(advertise_keys=pb.AdvertiseKeysTask(
        fit=_fit(False), hospital_dp=pb.HospitalDP(noise_multiplier=0.0))), "advertise_keys", False),
    (pb.Task(advertise_keys=pb.AdvertiseKeysTask(
        fit=_fit(False), hospital_dp=pb.HospitalDP(noise_multiplier=2.5))), "advertise_keys", True),
    (pb.Task(local_baseline=pb.LocalBaselineTask()), "local_baseline", False),
    (pb.Task(evaluate=pb.EvaluateTask()), "evaluate", True),
    (pb.Task(stats=pb.StatsTask()), "stats", True),
])
def test_trains_privately(task: pb.Task, kind: str, private: bool) -> None:
    assert task.WhichOneof("kind") == kind
    assert trains_privately(kind, task) is private


def test_deployed_defaults_require_dp_and_secure_aggregation() -> None:
    s = NodeSettings()
    assert s.require_dp and s.require_secure_aggregation
