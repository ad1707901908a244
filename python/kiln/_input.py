"""kiln.Input (the shape or min/opt/max shape range, dtype and memory format of one input) and the
normalization of the inputs every entry point takes (Input objects, example tensors, scalars)."""

from __future__ import annotations

import enum
from typing import Any, Optional, Sequence, Union

import torch
import torch.utils._pytree as pytree

ShapeLike = Union[Sequence[int], torch.Size]

_FORMATS = {
    "contiguous": torch.contiguous_format,
    "linear": torch.contiguous_format,
    "channels_last": torch.channels_last,
}


def _as_shape(name: str, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (list, tuple, torch.Size)):
        raise TypeError(f"kiln.Input: {name} must be a sequence of ints, got {type(shape).__name__}")
    out = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"kiln.Input: {name} must hold ints, got {d!r} ({type(d).__name__})")
        if d < 0:
            raise ValueError(
                f"kiln.Input: {name} has a negative dim {d}; give min_shape/opt_shape/max_shape "
                "for dynamic dims instead of -1"
            )
        out.append(int(d))
    return tuple(out)


def _torch_type(v: Any, torch_type: type) -> Any:
    """Torch-TensorRT-style enums (kiln.dtype, kiln.memory_format) convert themselves with .to(torch type);
    duck-typed so this leaf module imports nothing from kiln."""
    if not isinstance(v, (torch_type, str)) and callable(getattr(v, "to", None)):
        return v.to(torch_type)
    return v


def _as_format(fmt: Any) -> torch.memory_format:
    fmt = _torch_type(fmt, torch.memory_format)
    if isinstance(fmt, torch.memory_format):
        if fmt not in (torch.contiguous_format, torch.channels_last):
            raise ValueError(
                f"kiln.Input: format {fmt} is not supported (torch.contiguous_format or torch.channels_last)"
            )
        return fmt
    if isinstance(fmt, str) and fmt.lower() in _FORMATS:
        return _FORMATS[fmt.lower()]
    raise ValueError(
        f"kiln.Input: unknown format {fmt!r} (torch.contiguous_format, torch.channels_last, "
        "'contiguous' or 'channels_last')"
    )


class Input:
    """One input of the module to compile.

    Static: ``Input(shape=(1, 3, 224, 224))`` (or ``Input((1, 3, 224, 224))``).
    Dynamic: ``Input(min_shape=(1, 3, 224, 224), opt_shape=(8, 3, 224, 224), max_shape=(32, 3, 224, 224))``;
    dims whose min and max differ are dynamic, kernels are tuned for ``opt_shape``.

    ``dtype`` is the torch dtype (default float32); ``format`` torch.contiguous_format or torch.channels_last
    (or Torch-TensorRT's kiln.dtype / kiln.memory_format). ``Input.from_tensor(t)`` describes an example
    tensor. As in Torch-TensorRT, ``torch_tensor=`` is the example used at ``opt_shape`` (while capturing and
    saving) and ``tensor_domain=(low, high)`` the range of the random examples drawn at other shapes.
    """

    class _ShapeMode(enum.Enum):
        STATIC = 0
        DYNAMIC = 1

    def __init__(
        self,
        shape: Optional[ShapeLike] = None,
        *,
        min_shape: Optional[ShapeLike] = None,
        opt_shape: Optional[ShapeLike] = None,
        max_shape: Optional[ShapeLike] = None,
        dtype: Any = torch.float32,
        format: Any = torch.contiguous_format,
        name: Optional[str] = None,
        torch_tensor: Optional[torch.Tensor] = None,
        tensor_domain: Optional[tuple] = None,
        is_shape_tensor: bool = False,
    ):
        ranges = (min_shape, opt_shape, max_shape)
        if shape is not None:
            if any(r is not None for r in ranges):
                raise ValueError("kiln.Input: give either shape or min_shape/opt_shape/max_shape, not both")
            s = _as_shape("shape", shape)
            self.min_shape = self.opt_shape = self.max_shape = s
        else:
            if any(r is None for r in ranges):
                missing = [n for n, r in zip(("min_shape", "opt_shape", "max_shape"), ranges) if r is None]
                if len(missing) == 3:
                    raise ValueError("kiln.Input: needs shape=... or min_shape/opt_shape/max_shape")
                raise ValueError(
                    f"kiln.Input: a shape range needs min_shape, opt_shape and max_shape; missing "
                    f"{', '.join(missing)}"
                )
            self.min_shape = _as_shape("min_shape", min_shape)
            self.opt_shape = _as_shape("opt_shape", opt_shape)
            self.max_shape = _as_shape("max_shape", max_shape)
            if not (len(self.min_shape) == len(self.opt_shape) == len(self.max_shape)):
                raise ValueError(
                    f"kiln.Input: min_shape {self.min_shape}, opt_shape {self.opt_shape} and max_shape "
                    f"{self.max_shape} must have the same rank"
                )
            for d, (a, b, c) in enumerate(zip(self.min_shape, self.opt_shape, self.max_shape)):
                if not a <= b <= c:
                    raise ValueError(f"kiln.Input: dim {d} needs min <= opt <= max, got {a}, {b}, {c}")
        dtype = _torch_type(dtype, torch.dtype)
        if not isinstance(dtype, torch.dtype):
            raise TypeError(f"kiln.Input: dtype must be a torch.dtype (or kiln.dtype), got {dtype!r}")
        self.dtype = dtype
        self.format = _as_format(format)
        if self.format == torch.channels_last and len(self.opt_shape) != 4:
            raise ValueError("kiln.Input: format channels_last needs a rank-4 shape")
        self.name = name
        if is_shape_tensor:
            raise ValueError(
                "kiln.Input: is_shape_tensor=True is not supported: pass sizes as Python ints (torch.export "
                "keeps them symbolic) or as an ordinary integer tensor input"
            )
        if torch_tensor is not None:
            if not isinstance(torch_tensor, torch.Tensor):
                raise TypeError(
                    f"kiln.Input: torch_tensor must be a tensor, got {type(torch_tensor).__name__}"
                )
            if tuple(torch_tensor.shape) != self.opt_shape:
                raise ValueError(
                    f"kiln.Input: torch_tensor has shape {tuple(torch_tensor.shape)}, the opt_shape is "
                    f"{self.opt_shape}"
                )
        self.torch_tensor = torch_tensor
        self.tensor_domain = _as_domain(tensor_domain)

    # ---- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_tensor(
        cls, t: torch.Tensor, name: Optional[str] = None, disable_memory_format_check: bool = False
    ) -> "Input":
        fmt = (
            torch.channels_last
            if (
                not disable_memory_format_check
                and t.dim() == 4
                and t.is_contiguous(memory_format=torch.channels_last)
                and not t.is_contiguous()
            )
            else torch.contiguous_format
        )
        return cls(shape=tuple(t.shape), dtype=t.dtype, format=fmt, name=name)

    @classmethod
    def from_tensors(
        cls, ts: Sequence[torch.Tensor], disable_memory_format_check: bool = False
    ) -> list["Input"]:
        return [cls.from_tensor(t, disable_memory_format_check=disable_memory_format_check) for t in ts]

    # ---- queries --------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The static shape (ValueError for a dynamic input: use opt_shape)."""
        if self.is_dynamic():
            raise ValueError(f"kiln.Input: {self} is dynamic; it has no single shape")
        return self.opt_shape

    def is_dynamic(self) -> bool:
        return self.min_shape != self.max_shape

    @property
    def shape_mode(self) -> "Input._ShapeMode":
        return Input._ShapeMode.DYNAMIC if self.is_dynamic() else Input._ShapeMode.STATIC

    def dynamic_dims(self) -> list[int]:
        return [d for d, (a, c) in enumerate(zip(self.min_shape, self.max_shape)) if a != c]

    def shape_at(self, which: Optional[str]) -> tuple[int, ...]:
        """which: "min" / "opt" / "max" (or Torch-TensorRT's "min_shape" / "opt_shape" / "max_shape"; None: opt)."""
        key = "opt" if which is None else which.replace("_shape", "")
        shapes = {"min": self.min_shape, "opt": self.opt_shape, "max": self.max_shape}
        if key not in shapes:
            raise ValueError(f"kiln.Input: unknown shape {which!r} (min_shape, opt_shape or max_shape)")
        return shapes[key]

    def example_tensor(self, which: Optional[str] = "opt", device: Any = "cpu") -> torch.Tensor:
        """A tensor at the min / opt / max shape: ``torch_tensor`` at opt when one was given, else random
        (in ``tensor_domain`` when given; else floats normal, ints and bools ones, which are valid token ids,
        indices and masks for typical models)."""
        shape = self.shape_at(which)
        if self.torch_tensor is not None and shape == self.opt_shape:
            return self.torch_tensor.to(device)
        if self.tensor_domain is not None:
            lo, hi = self.tensor_domain
            if self.dtype.is_floating_point:
                t = (torch.rand(shape, device=device) * (hi - lo) + lo).to(self.dtype)
            else:
                t = torch.randint(int(lo), max(int(hi), int(lo) + 1), shape, device=device).to(self.dtype)
        elif self.dtype.is_floating_point:
            t = torch.randn(shape, dtype=torch.float32, device=device).to(self.dtype)
        elif self.dtype.is_complex:
            t = torch.randn(shape, dtype=self.dtype, device=device)
        else:
            t = torch.ones(shape, dtype=self.dtype, device=device)
        if self.format == torch.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def __repr__(self) -> str:
        dt = str(self.dtype).replace("torch.", "")
        fmt = "" if self.format == torch.contiguous_format else ", format=channels_last"
        if self.is_dynamic():
            shapes = f"min_shape={self.min_shape}, opt_shape={self.opt_shape}, max_shape={self.max_shape}"
            return f"Input({shapes}, dtype={dt}{fmt})"
        return f"Input(shape={self.opt_shape}, dtype={dt}{fmt})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Input) and (
            self.min_shape,
            self.opt_shape,
            self.max_shape,
            self.dtype,
            self.format,
        ) == (other.min_shape, other.opt_shape, other.max_shape, other.dtype, other.format)

    def __hash__(self) -> int:
        return hash((self.min_shape, self.opt_shape, self.max_shape, self.dtype))

    def __getstate__(self) -> dict:
        return {
            "min_shape": self.min_shape,
            "opt_shape": self.opt_shape,
            "max_shape": self.max_shape,
            "dtype": self.dtype,
            "format": "channels_last" if self.format == torch.channels_last else "contiguous",
            "name": self.name,
            "tensor_domain": self.tensor_domain,
        }

    def __setstate__(self, s: dict) -> None:
        self.min_shape, self.opt_shape, self.max_shape = s["min_shape"], s["opt_shape"], s["max_shape"]
        self.dtype, self.format, self.name = s["dtype"], _FORMATS[s["format"]], s.get("name")
        self.torch_tensor, self.tensor_domain = None, s.get("tensor_domain")


def _as_domain(d: Any) -> Optional[tuple[float, float]]:
    if d is None:
        return None
    if not isinstance(d, (list, tuple)) or len(d) != 2 or not all(isinstance(x, (int, float)) for x in d):
        raise ValueError(f"kiln.Input: tensor_domain must be (low, high), got {d!r}")
    if not d[0] < d[1]:
        raise ValueError(f"kiln.Input: tensor_domain needs low < high, got {d!r}")
    return float(d[0]), float(d[1])


def as_input(x: Any, where: str) -> Any:
    """Input | Tensor -> Input; other leaves (Python scalars, None) are passed through unchanged."""
    if isinstance(x, Input):
        return x
    if isinstance(x, torch.Tensor):
        return Input.from_tensor(x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(
        f"{where}: expected kiln.Input, a torch.Tensor or a Python scalar, got {type(x).__name__}"
    )


def normalize_inputs(inputs: Any, arg_inputs: Any, kwarg_inputs: Any) -> tuple[tuple, dict, tuple, dict]:
    """-> (arg specs, kwarg specs, arg examples, kwarg examples); specs are Inputs (or Python scalars)."""
    if inputs is not None and arg_inputs is not None:
        raise ValueError("kiln.compile: give inputs or arg_inputs, not both (they are the same thing)")
    args = inputs if inputs is not None else arg_inputs
    if args is None:
        args = ()
    if isinstance(args, (Input, torch.Tensor)):
        args = (args,)
    if not isinstance(args, (list, tuple)):
        raise TypeError(
            f"kiln.compile: inputs must be a list of kiln.Input / tensors, got {type(args).__name__}"
        )
    kwargs = kwarg_inputs or {}
    if not isinstance(kwargs, dict):
        raise TypeError(f"kiln.compile: kwarg_inputs must be a dict, got {type(kwargs).__name__}")
    arg_specs = tuple(pytree.tree_map(lambda x: as_input(x, "kiln.compile inputs"), list(args)))
    kw_specs = {
        k: pytree.tree_map(lambda x, k=k: as_input(x, f"kiln.compile kwarg_inputs[{k!r}]"), v)
        for k, v in kwargs.items()
    }
    return arg_specs, kw_specs, tuple(args), dict(kwargs)
