"""The dynamo / torch.export frontend: export -> core aten -> OpGraph (kiln._C) -> partition -> stitch.

Public functions, shaped like Torch-TensorRT's ``torch_tensorrt.dynamo``: ``compile`` (an ExportedProgram or
module -> a GraphModule whose supported parts run as Kiln engines), ``trace`` (module + kiln.Input ranges ->
ExportedProgram with those dynamic dims) and ``export`` (a compiled GraphModule -> ExportedProgram).
"""

from kiln.dynamo._api import compile, export, trace  # noqa: F401

__all__ = ["compile", "export", "trace"]
