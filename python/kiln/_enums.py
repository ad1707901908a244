"""Torch-TensorRT's small types under Kiln: ``kiln.dtype``, ``kiln.memory_format``, ``kiln.DeviceType``,
``kiln.EngineCapability`` and ``kiln.Device``, so ``import kiln as torch_tensorrt`` finds them.

Kiln itself speaks torch types (torch.dtype, torch.memory_format, torch.device); these exist so programs
written for Torch-TensorRT run unchanged, and every Kiln entry point accepts them where it accepts the torch
types (``_from`` / ``to`` convert, as Torch-TensorRT's do).
"""

from __future__ import annotations

import enum
from typing import Any, Optional, Union

import torch


class dtype(enum.Enum):  # noqa: N801 - Torch-TensorRT's name
    """Element types by Torch-TensorRT's names (``kiln.dtype.half``, ``kiln.dtype.f16``, ...)."""

    unknown = "unknown"
    u8 = "u8"
    i8 = "i8"
    i32 = "i32"
    i64 = "i64"
    f16 = "f16"
    f32 = "f32"
    f64 = "f64"
    b = "b"
    bf16 = "bf16"
    f8 = "f8"
    # Aliases (enum members with equal values are aliases of the first).
    uint8 = "u8"
    int8 = "i8"
    int32 = "i32"
    long = "i64"
    int64 = "i64"
    half = "f16"
    fp16 = "f16"
    float16 = "f16"
    float = "f32"
    fp32 = "f32"
    float32 = "f32"
    double = "f64"
    fp64 = "f64"
    float64 = "f64"
    short = "i16"
    int16 = "i16"
    bool = "b"
    bfloat16 = "bf16"
    float8 = "f8"

    @classmethod
    def _from(cls, t: Any) -> "dtype":
        if isinstance(t, cls):
            return t
        if isinstance(t, torch.dtype):
            for k, v in _TORCH.items():
                if v == t:
                    return cls(k)
            raise TypeError(f"kiln.dtype: no Kiln dtype for {t}")
        if isinstance(t, str):
            key = t.lower().replace("torch.", "")
            if key in cls.__members__:
                return cls.__members__[key]
        raise TypeError(f"kiln.dtype: cannot convert {t!r} to a dtype")

    @classmethod
    def try_from(cls, t: Any) -> Optional["dtype"]:
        try:
            return cls._from(t)
        except TypeError:
            return None

    def to(self, t: Any, use_default: bool = False) -> Any:
        """``kiln.dtype.half.to(torch.dtype)`` -> torch.float16 (the only target type Kiln has)."""
        if t is not torch.dtype and t is not type(torch.float32):
            raise TypeError(f"kiln.dtype.to: Kiln converts to torch.dtype only, not {t!r}")
        if self.value in _TORCH:
            return _TORCH[self.value]
        if use_default:
            return torch.float32
        raise TypeError(f"kiln.dtype.{self.name} has no torch dtype")

    def try_to(self, t: Any, use_default: bool = False) -> Any:
        try:
            return self.to(t, use_default)
        except TypeError:
            return None

    def __str__(self) -> str:
        return f"dtype.{self.name}"


_TORCH = {
    "u8": torch.uint8,
    "i8": torch.int8,
    "i32": torch.int32,
    "i64": torch.int64,
    "f16": torch.float16,
    "f32": torch.float32,
    "f64": torch.float64,
    "i16": torch.int16,
    "b": torch.bool,
    "bf16": torch.bfloat16,
    "f8": torch.float8_e4m3fn,
}


def to_torch_dtype(t: Any) -> Any:
    """kiln.dtype -> torch.dtype; anything else is returned unchanged (validated by the caller)."""
    return t.to(torch.dtype) if isinstance(t, dtype) else t


class memory_format(enum.Enum):  # noqa: N801 - Torch-TensorRT's name
    """Tensor formats by Torch-TensorRT's names; Kiln takes contiguous (linear) and channels_last."""

    contiguous = "contiguous"
    channels_last = "channels_last"
    linear = "contiguous"
    chw32 = "chw32"
    chw16 = "chw16"
    hwc8 = "hwc8"
    chw4 = "chw4"
    chw2 = "chw2"
    hwc = "channels_last"
    dla_linear = "dla_linear"
    dla_hwc4 = "dla_hwc4"
    hwc16 = "hwc16"
    dhwc8 = "dhwc8"
    cdhw32 = "cdhw32"
    dhwc = "dhwc"

    @classmethod
    def _from(cls, f: Any) -> "memory_format":
        if isinstance(f, cls):
            return f
        if f == torch.contiguous_format:
            return cls.contiguous
        if f == torch.channels_last:
            return cls.channels_last
        if isinstance(f, str) and f.lower() in cls.__members__:
            return cls.__members__[f.lower()]
        raise TypeError(f"kiln.memory_format: cannot convert {f!r}")

    def to(self, t: Any = torch.memory_format, use_default: bool = False) -> torch.memory_format:
        if self.value == "contiguous":
            return torch.contiguous_format
        if self.value == "channels_last":
            return torch.channels_last
        raise ValueError(
            f"kiln: memory_format.{self.name} is a TensorRT vectorized format; Kiln inputs are "
            "contiguous or channels_last (Kiln picks its internal layouts itself)"
        )


def to_torch_format(f: Any) -> Any:
    return f.to(torch.memory_format) if isinstance(f, memory_format) else f


class DeviceType(enum.Enum):
    UNKNOWN = "unknown"
    GPU = "gpu"
    DLA = "dla"
    CPU = "cpu"  # Kiln's CPU backend (Torch-TensorRT has no such device)

    @classmethod
    def _from(cls, d: Any) -> "DeviceType":
        if isinstance(d, cls):
            return d
        if isinstance(d, torch.device):
            return cls.GPU if d.type == "cuda" else cls.CPU if d.type == "cpu" else cls.UNKNOWN
        if isinstance(d, str) and d.upper() in cls.__members__:
            return cls.__members__[d.upper()]
        raise TypeError(f"kiln.DeviceType: cannot convert {d!r}")


class EngineCapability(enum.Enum):
    STANDARD = "standard"
    SAFETY = "safety"
    DLA_STANDALONE = "dla_standalone"

    @classmethod
    def _from(cls, c: Any) -> "EngineCapability":
        if isinstance(c, cls):
            return c
        if isinstance(c, str) and c.upper() in cls.__members__:
            return cls.__members__[c.upper()]
        raise TypeError(f"kiln.EngineCapability: cannot convert {c!r}")


class Device:
    """Where engines run, Torch-TensorRT style: ``Device("cuda:0")``, ``Device(gpu_id=0)``, and for Kiln's
    CPU backend ``Device("cpu")``. DLA does not exist in Kiln: ``Device("dla:0")`` raises, and
    ``allow_gpu_fallback`` is kept only as an attribute (with no DLA there is nothing to fall back from)."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.device_type = DeviceType.GPU
        self.gpu_id = -1
        self.dla_core = -1
        self.allow_gpu_fallback = bool(kwargs.pop("allow_gpu_fallback", False))
        if len(args) > 1:
            raise TypeError("kiln.Device: takes one positional spec ('cuda:0', 'cpu' or a torch.device)")
        if args:
            spec = args[0]
            d = spec if isinstance(spec, torch.device) else None
            if isinstance(spec, str):
                s = spec.strip().lower()
                if s.startswith("dla"):
                    raise ValueError(_NO_DLA)
                if s.startswith("gpu"):
                    s = "cuda" + s[3:]
                try:
                    d = torch.device(s)
                except RuntimeError as e:
                    raise ValueError(f"kiln.Device: {e}") from e
            if d is None:
                raise TypeError(f"kiln.Device: expected a string or torch.device, got {spec!r}")
            if d.type == "cuda":
                self.gpu_id = d.index if d.index is not None else 0
            elif d.type == "cpu":
                self.device_type = DeviceType.CPU
            else:
                raise ValueError(f"kiln.Device: Kiln runs on 'cuda' or 'cpu', not {d.type!r}")
        dtype_kw = kwargs.pop("device_type", None)
        if dtype_kw is not None:
            self.device_type = DeviceType._from(dtype_kw)
            if self.device_type == DeviceType.DLA:
                raise ValueError(_NO_DLA)
        # A DLA core means nothing for a GPU or CPU device (Torch-TensorRT's specs often carry dla_core=0).
        self.dla_core = kwargs.pop("dla_core", -1)
        if "gpu_id" in kwargs:
            self.gpu_id = int(kwargs.pop("gpu_id"))
            self.device_type = DeviceType.GPU
        if kwargs:
            raise TypeError(f"kiln.Device: unexpected arguments {sorted(kwargs)}")
        if self.device_type == DeviceType.GPU and self.gpu_id < 0:
            self.gpu_id = 0

    def to(self, t: Any = torch.device) -> torch.device:
        if self.device_type == DeviceType.CPU:
            return torch.device("cpu")
        return torch.device("cuda", self.gpu_id)

    @classmethod
    def _from(cls, d: Any) -> "Device":
        if isinstance(d, cls):
            return d
        if isinstance(d, (str, torch.device)):
            return cls(d)
        raise TypeError(f"kiln.Device: cannot convert {d!r}")

    @classmethod
    def _current_device(cls) -> "Device":
        if torch.cuda.is_available():
            return cls(gpu_id=torch.cuda.current_device())
        return cls("cpu")

    def __str__(self) -> str:
        if self.device_type == DeviceType.CPU:
            return "Device(type=DeviceType.CPU)"
        return f"Device(type=DeviceType.GPU, gpu_id={self.gpu_id})"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and self.to() == other.to()

    def __hash__(self) -> int:
        return hash(str(self.to()))


_NO_DLA = (
    "kiln.Device: Kiln has no DLA backend; engines run on the GPU (Device('cuda:0')) or the CPU "
    "(Device('cpu'))"
)


DEVICE_SPEC_KEYS = ("device_type", "gpu_id", "dla_core", "allow_gpu_fallback")


def to_torch_device(d: Any) -> Union[torch.device, str, None]:
    """kiln.Device / dict -> torch.device; str, torch.device and None unchanged."""
    if isinstance(d, Device):
        return d.to(torch.device)
    if isinstance(d, dict):  # Torch-TensorRT's TorchScript compile spec form
        other = sorted(k for k in d if k not in DEVICE_SPEC_KEYS)
        if other:
            raise ValueError(
                f"kiln: device spec keys {other} are not device fields ({', '.join(DEVICE_SPEC_KEYS)}); "
                "pass them as compile keywords"
            )
        return Device(**d).to(torch.device)
    return d
