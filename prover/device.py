"""Which torch device a model runs on: checked by name before any work, resolved when the model loads.

    check_device("cuda:1", "train config: device")   # ValueError naming the input for "tpu", "gpu", ...
    resolve_device("auto")                           # "cuda" when torch sees a GPU, else "cpu"
"""

from __future__ import annotations

import re

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE = re.compile(r"auto|cpu|cuda(?::\d+)?|mps")


def check_device(device: object, where: str = "device") -> str:
    """`device` if it is one of DEVICE_NAMES (no torch needed); ValueError naming it otherwise."""
    if not isinstance(device, str) or _DEVICE.fullmatch(device) is None:
        raise ValueError(f"{where}: unknown device {device!r}; use one of {', '.join(DEVICE_NAMES)}")
    return device


def resolve_device(device: str, where: str = "device") -> str:
    """The device to use now: "auto" picks CUDA when available; a CUDA or MPS device that this
    machine lacks is a ValueError naming it."""
    import torch

    check_device(device, where)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"{where}: device {device!r} requested but CUDA is not available on this machine")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{where}: device 'mps' requested but MPS is not available on this machine")
    return device
