"""qfab's errors: one family per kind of problem, each message naming the value and the place.

``except qfab.errors.QfabError`` catches every problem qfab reports on purpose (the command line
prints those as one line and exits with code 2); anything else is a bug. Each family also derives
from the built-in type that callers caught before the family existed, so ``except ValueError``
(bad inputs, configuration and files), ``except MemoryError`` (a run that does not fit) and
``except RuntimeError`` (a device that fails) keep working.

======================================  ==============================================================
family                                  for
======================================  ==============================================================
:class:`InputError` (``ValueError``)    a bad value, shape or type handed to a public call, or a
                                        malformed OpenQASM program (:class:`OpenQASMError`)
:class:`UnsupportedInstructionError`    a valid instruction qfab cannot simulate (reset, mid-circuit
                                        measurement, classical control)
:class:`CapacityError`                  a job beyond what a device holds or offers: qubits, memory
                                        (``InsufficientMemoryError``, a ``MemoryError``), gates,
                                        methods (``DeviceCapabilityError``, a ``ValueError``)
:class:`DeviceError` (``RuntimeError``) a device that is absent (``DeviceUnavailable``) or fails
                                        during a run (``NoLiveDeviceError``)
:class:`ConfigurationError`             board, workload and configuration files (``ValueError``)
:class:`FileFormatError` (``ValueError``) a file qfab wrote and reads back that fails validation:
                                        cache files (:class:`CacheFileError`), checkpoints
======================================  ==============================================================

This module imports nothing, so every layer of qfab (the core included) can raise these.
"""
from __future__ import annotations

__all__ = ["QfabError", "InputError", "InputTypeError", "OpenQASMError", "UnsupportedInstructionError",
           "CapacityError", "DeviceError", "ConfigurationError", "FileFormatError", "CacheFileError",
           "CacheFileWarning"]


class QfabError(Exception):
    """Every problem qfab reports on purpose (the base of the families below)."""


class InputError(QfabError, ValueError):
    """A bad value, shape or type in a public call (parameters, observables, shots, options)."""


class InputTypeError(InputError, TypeError):
    """An argument of the wrong type (also a ``TypeError``, as such errors were before)."""


class OpenQASMError(InputError):
    """An OpenQASM 2 or 3 program that does not parse or does not make sense (syntax, unknown gates,
    wrong arity, indices out of range, undefined parameters), named with its file and position."""


class UnsupportedInstructionError(InputError):
    """A well-formed instruction qfab cannot simulate, named with its position in the circuit."""


class CapacityError(QfabError):
    """A job beyond what a device holds or offers (qubits, memory, gates, gradient methods,
    precisions); the concrete errors also derive from ``MemoryError`` or ``ValueError``."""


class DeviceError(QfabError, RuntimeError):
    """A device that is not there, or that fails while it runs."""


class ConfigurationError(QfabError, ValueError):
    """A board, workload or configuration file (or value) that is malformed or makes no physical sense."""


class FileFormatError(QfabError, ValueError):
    """A file qfab wrote and reads back (cache file, checkpoint) that fails validation, with its name."""


class CacheFileError(FileFormatError):
    """A cache file (calibration profile, run history) that fails validation."""


class CacheFileWarning(UserWarning):
    """A cache file failed validation and was moved aside; defaults or recalibration take over."""
