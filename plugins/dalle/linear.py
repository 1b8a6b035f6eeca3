"""`Linear`: x @ weight + bias (optionally then tanh-GELU) for the cached decoder's weights.

On a CPU with oneDNN, the weight is packed once into oneDNN's own layout and the GELU fused
into the product: `addmm` re-packs the weight at every call, which for the few rows of a
sampling step costs a quarter of the product (measured on dalle:shapes). Elsewhere, or when
this torch build lacks the (private) oneDNN ops, it is a plain `addmm`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Linear:
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rows: int, gelu: bool = False):
        """`weight` is in x out (GPT-2's Conv1D layout); `rows` is the usual number of input rows."""
        self.weight, self.bias, self.gelu = weight, bias, gelu
        self.packed = _pack(weight, rows) if weight.device.type == "cpu" else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "gelu" if self.gelu else "none",
                                                      [], "tanh" if self.gelu else "")
        out = x @ self.weight if self.bias is None else torch.addmm(self.bias, x, self.weight)
        return F.gelu(out, approximate="tanh") if self.gelu else out


def _pack(weight: torch.Tensor, rows: int) -> torch.Tensor | None:
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._reorder_linear_weight(weight.t().contiguous(), rows)
    except (AttributeError, RuntimeError):  # a build without these ops: addmm it is
        return None
