"""The dynamo / torch.export frontend: export -> core aten -> OpGraph (kiln._C) -> partition -> stitch.

Public functions, shaped like Torch-TensorRT's ``torch_tensorrt.dynamo``: ``compile`` (an ExportedProgram or
module -> a GraphModule whose supported parts run as Kiln engines), ``trace`` (module + kiln.Input ranges ->
ExportedProgram with those dynamic dims) and ``export`` (a compiled GraphModule -> ExportedProgram);
``refit_module_weights`` raises (Kiln engines cannot be refitted yet).
"""

from kiln.dynamo._api import compile, export, refit_module_weights, trace  # noqa: F401

__all__ = ["compile", "export", "refit_module_weights", "trace"]
