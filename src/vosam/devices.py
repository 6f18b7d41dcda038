"""Choosing the compute device: one rule for every engine and refiner.

``"auto"`` (or None) is CUDA when torch sees a CUDA device, else the CPU. Any other name
is checked before a model is built, so a missing GPU is one clear error, not a driver
traceback half-way through a run.
"""

from __future__ import annotations

import torch

from vosam.errors import DeviceError

__all__ = ["device_name", "resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None → CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:N``,
    ``mps`` are checked against what torch sees.

    Raises:
        DeviceError: not a device name, or a device this machine does not have.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        out = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(
            None, f"device {str(device)!r} is not a device name (auto, cpu, cuda or cuda:N)"
        ) from None
    if out.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                None,
                f"device {str(device)!r}: torch sees no CUDA device (no NVIDIA driver or GPU "
                "here); use device 'cpu' or 'auto'",
            )
        count = torch.cuda.device_count()
        if out.index is not None and out.index >= count:
            raise DeviceError(None, f"device {str(device)!r}: torch sees {count} CUDA device(s)")
    elif out.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(None, f"device {str(device)!r}: torch sees no MPS device")
    elif out.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(None, f"device {str(device)!r}: vosam runs on cpu, cuda or mps")
    return out


def device_name(device: str | torch.device | None = "auto") -> str:
    """The device a run uses, as recorded in its manifest: ``cpu``, ``cuda``, ``cuda:1``."""
    return str(resolve_device(device))
