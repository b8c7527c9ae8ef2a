"""Differential privacy: accounting, the per-hospital ledger, DP-SGD, distributed DP, audit."""
