"""Keeping a codebook close to the encoder's outputs during training.

Adam moves each code vector by about one learning rate per step, whatever its error, so
codes trained by gradient lag behind an encoder whose outputs drift; a code then stands for
several colours at once and reconstructions wash out. `EMACodebook` instead sets each code
to the running mean of the encoder outputs assigned to it (the VQ-VAE-2 update), and
`restart` moves codes nobody used onto encoder outputs, so that a small codebook is used
fully. Both write into the quantizer's own embedding, which keeps taming's parameter names.
"""

from __future__ import annotations

import torch


class EMACodebook:
    def __init__(self, codebook: torch.Tensor, decay: float = 0.99, epsilon: float = 1e-5):
        self.decay, self.epsilon = decay, epsilon
        self.count = torch.ones(codebook.shape[0], device=codebook.device)
        self.total = codebook.detach().float().clone()

    @torch.no_grad()
    def update(self, codebook: torch.Tensor, vectors: torch.Tensor, codes: torch.Tensor) -> None:
        """Fold this batch's assignments (vectors N x D, codes N) into the running means."""
        vectors, codes = vectors.float(), codes.to(self.count.device)
        counts = torch.bincount(codes, minlength=len(self.count)).float()
        sums = torch.zeros_like(self.total).index_add_(0, codes, vectors.to(self.total.device))
        self.count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.total.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.count.sum()
        smoothed = (self.count + self.epsilon) / (n + len(self.count) * self.epsilon) * n  # never divide by 0
        codebook.copy_((self.total / smoothed[:, None]).to(codebook.dtype))

    @torch.no_grad()
    def restart(self, codebook: torch.Tensor, dead: torch.Tensor, vectors: torch.Tensor) -> None:
        """Move the codes `dead` onto `vectors` (one row each), as if each had been used once."""
        dead = dead.to(self.count.device)
        self.count[dead] = 1.0
        self.total[dead] = vectors.float().to(self.total.device)
        codebook[dead.to(codebook.device)] = vectors.to(codebook.dtype).to(codebook.device)

    def state_dict(self) -> dict:
        return {"count": self.count.cpu(), "total": self.total.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"].to(self.count.device)
        self.total = state["total"].to(self.total.device)
