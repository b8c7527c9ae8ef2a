"""What a hospital does with each task, on its own data: no gRPC here."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fedhealth import metrics
from fedhealth.errors import ConfigError
from fedhealth.data.base import Schema, SiteData
from fedhealth.data.fitted import fit_site, site_stats
from fedhealth.data.tabular import scaled
from fedhealth.models.registry import ModelSpec, build
from fedhealth.models.weights import get_weights, set_weights
from fedhealth.training import loop
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.wire import from_tensor_list, to_tensor_list
from fedhealth_node.privacy import NodePrivacy


class Trainer:
    """Holds one hospital's split in memory (as tensors) across rounds."""

    def __init__(self, site: SiteData, device: torch.device,
                 privacy: NodePrivacy | None = None) -> None:
        self.site = site
        self.privacy = privacy
        self.task = site.schema.task
        self.device = device
        self._raw: tuple[Any, Any] | None = None
        self._scaled: tuple[tuple[float, ...], Any, Any] | None = None

    def _raw_sets(self) -> tuple[Any, Any]:
        """Train and test sets, built on first use (after preprocessing is fitted)."""
        if self._raw is None:
            self._raw = (self.site.train_dataset(), self.site.test_dataset())
        return self._raw

    def preprocess(self, task: pb.PreprocessTask) -> tuple[bytes, pb.DataSchema]:
        """Send this site's preprocessing statistics, or bind the merged ones."""
        from fedhealth.data.preprocess import stats_from_bytes, stats_to_bytes

        if not task.merged_stats:
            stats = site_stats(self.site)
            return (stats_to_bytes(stats) if stats is not None else b""), schema_pb(self.site.schema)
        self.site = fit_site(self.site, stats_from_bytes(task.merged_stats))
        self._raw = self._scaled = None
        return b"", schema_pb(self.site.schema)

    @property
    def n_train(self) -> int:
        return len(self.site.train_idx)

    @property
    def n_test(self) -> int:
        return len(self.site.test_idx)

    def datasets(self, std: pb.Standardizer) -> tuple[Any, Any]:
        """Train and test sets with the federated standardizer applied (tabular only)."""
        raw_train, raw_test = self._raw_sets()
        if not len(std.mean):
            return raw_train, raw_test
        key = tuple(std.mean) + tuple(std.scale)
        if self._scaled is None or self._scaled[0] != key:
            mean, scale = np.asarray(std.mean), np.asarray(std.scale)
            self._scaled = (key, scaled(raw_train, mean, scale), scaled(raw_test, mean, scale))
        return self._scaled[1], self._scaled[2]

    def model(self, spec: pb.ModelSpec, weights: pb.TensorList | None) -> torch.nn.Module:
        module = build(ModelSpec.from_json(spec.arch, spec.params_json))
        if weights is not None:
            set_weights(module, from_tensor_list(weights))
        return module

    def init(self, task: pb.InitTask) -> pb.TensorList:
        torch.manual_seed(int(task.seed))
        return to_tensor_list(get_weights(self.model(task.model, None)))

    def stats(self) -> tuple[int, list[float], list[float]]:
        x = self.site.train_features()
        if x is None:
            return self.n_train, [], []
        x = np.asarray(x, dtype=np.float64)
        return len(x), x.sum(axis=0).tolist(), (x * x).sum(axis=0).tolist()

    def fit(self, task: pb.FitTask) -> tuple[dict[str, np.ndarray], int, dict[str, float]]:
        """Train from the global weights; return the update (local - global). With DP,
        the ledger records the round first (PrivacyBudgetExhausted: nothing trained)."""
        cfg = _config(task.config)
        dp_cfg = None
        if task.config.HasField("dp"):
            if self.privacy is None:
                raise ConfigError("the run trains with DP: set ledger_path (FEDHEALTH_NODE_LEDGER_PATH)")
            dp_cfg = self.privacy.prepare(self.n_train, cfg, task.config.dp)
        module = self.model(task.model, task.weights)
        start = get_weights(module)
        train, _ = self.datasets(task.standardizer)
        if dp_cfg is not None:
            from fedhealth.privacy.dp_sgd import train_private

            stats, spend = train_private(module, train, cfg, dp_cfg, self.task, self.device)
            self.privacy.spent(spend)  # type: ignore[union-attr]
        else:
            stats = loop.train(module, train, cfg, self.task, self.device)
        end = get_weights(module)
        return {k: end[k] - start[k] for k in start}, self.n_train, stats

    def evaluate(self, model: pb.ModelSpec, weights: pb.TensorList,
                 std: pb.Standardizer) -> pb.EvalSummary:
        module = self.model(model, weights)
        return self._summary(module, std)

    def local_baseline(self, task: pb.LocalBaselineTask) -> pb.EvalSummary:
        """The same model trained on this hospital alone for the whole budget of epochs."""
        module = self.model(task.model, task.weights)
        train, _ = self.datasets(task.standardizer)
        loop.train(module, train, _config(task.config), self.task, self.device)
        return self._summary(module, task.standardizer)

    def _summary(self, module: torch.nn.Module, std: pb.Standardizer) -> pb.EvalSummary:
        _, test = self.datasets(std)
        probs, labels, loss_sum = loop.predict(module, test, self.task, self.device)
        s = metrics.Summary.of(labels, probs, loss_sum, self.task)
        return pb.EvalSummary(
            n=s.n, loss_sum=s.loss_sum, brier_sum=s.brier_sum, tp=s.tp, fp=s.fp, tn=s.tn,
            fn=s.fn, hist_pos=s.hist_pos.ravel().tolist(), hist_neg=s.hist_neg.ravel().tolist(),
            n_labels=s.hist_pos.shape[0], correct=s.correct,
            local_auroc=metrics.macro_auroc(labels, probs, self.task))


def schema_pb(schema: Schema) -> pb.DataSchema:
    return pb.DataSchema(dataset=schema.dataset, modality=schema.modality, task=schema.task,
                         input_shape=list(schema.input_shape),
                         feature_names=list(schema.feature_names),
                         label_names=list(schema.label_names))


def _config(c: pb.TrainConfig) -> loop.TrainConfig:
    return loop.TrainConfig(local_epochs=int(c.local_epochs) or 1, batch_size=int(c.batch_size) or 32,
                            learning_rate=c.learning_rate or 0.003, optimizer=c.optimizer or "adam",
                            proximal_mu=c.proximal_mu, seed=int(c.seed),
                            weight_decay=c.weight_decay)
