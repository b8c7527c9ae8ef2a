"""Typed errors, each with the process exit code and gRPC status it maps to.

Every command catches `FedhealthError` at the top and prints its one-line message, so a
bad setting, a missing file or an unreachable peer never ends in a traceback.
"""

from __future__ import annotations

import grpc


class FedhealthError(Exception):
    """Base of every error fedhealth raises on purpose."""

    exit_code: int = 1
    status: grpc.StatusCode = grpc.StatusCode.INTERNAL


class ConfigError(FedhealthError):
    """A setting is missing, malformed or inconsistent with another."""

    exit_code = 2
    status = grpc.StatusCode.INVALID_ARGUMENT


class DataError(FedhealthError):
    """A data file or column is missing or malformed."""

    exit_code = 3
    status = grpc.StatusCode.FAILED_PRECONDITION


class ConnectionFailed(FedhealthError):
    """A peer service could not be reached."""

    exit_code = 4
    status = grpc.StatusCode.UNAVAILABLE


class ProtocolError(FedhealthError):
    """A message arrived out of order, for an unknown round, or from an unknown node."""

    exit_code = 5
    status = grpc.StatusCode.FAILED_PRECONDITION


class KeyVerificationError(FedhealthError):
    """A public key or signature failed verification."""

    exit_code = 6
    status = grpc.StatusCode.PERMISSION_DENIED


class PrivacyBudgetExhausted(FedhealthError):
    """The next round would take a hospital past its privacy budget."""

    exit_code = 7
    status = grpc.StatusCode.RESOURCE_EXHAUSTED


class RunFailed(FedhealthError):
    """A federation run ended without a usable result."""

    exit_code = 8
