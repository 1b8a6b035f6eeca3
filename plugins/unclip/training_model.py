"""The two networks trained together, and the loss of one batch.

Both are diffusion models trained as DALL·E 2 trains them: the prior predicts the clean
(standardised) image embedding from a noisy one and the caption's text embedding (and, a prior
that reads captions, its token states); the decoder
predicts v (v-prediction: a CPU pilot drew recognisable scenes with it where noise prediction
still drew noise) from noisy VQGAN latents, the image embedding and (a decoder that reads
captions) the caption's token states. Conditions are dropped (set to zero) for a share of the
batch, so that classifier-free guidance works, and the caption alone for another share, so that
the decoder also draws from an image embedding alone (variations).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .components import decoder_scheduler, embedding_scale, prior_scheduler, reads_captions


class UnclipPair(nn.Module):
    def __init__(self, prior: nn.Module, unet: nn.Module, parts: str = "both"):
        super().__init__()
        self.prior, self.unet, self.parts = prior, unet, parts
        self.prior_noise, self.decoder_noise = prior_scheduler(), decoder_scheduler()
        for name, network in (("prior", prior), ("decoder", unet)):
            network.requires_grad_(self.learns(name))
        prior.clip_mean.requires_grad_(False)  # the embeddings' statistics, set once, never learnt
        prior.clip_std.requires_grad_(False)

    def learns(self, network: str) -> bool:
        """Whether "prior" or "decoder" is trained (`parts`)."""
        return self.parts in ("both", network)

    def forward(self, latents, image_embeds, text_embeds, keep_text, keep_image, generator_seed: int,
                caption_states=None, keep_caption=None):
        """{network: loss} of the networks that learn, for normalised latents B x C x h x w, unit
        image and text embeddings B x D, masks B (1 keeps the condition, 0 drops it) and, for
        networks that read captions, the caption's unit token states B x L x D with the
        decoder's mask (the prior's is the text's)."""
        generator = torch.Generator().manual_seed(generator_seed)
        batch, dim, device = latents.shape[0], image_embeds.shape[1], latents.device
        scale = embedding_scale(dim)

        def draw(shape):
            return torch.randn(shape, generator=generator).to(device)

        def timesteps():
            return torch.randint(0, self.decoder_noise.config.num_train_timesteps, (batch,), generator=generator).to(device)

        def tokens(keep):
            return None if caption_states is None else caption_states * scale * keep[:, None, None]

        losses = {}
        if self.learns("prior"):  # standardised image embedding from text
            target = (image_embeds * scale - self.prior.clip_mean) / self.prior.clip_std
            t = timesteps()
            noisy = self.prior_noise.add_noise(target, draw(target.shape), t)
            predicted = self.prior(noisy, timestep=t, proj_embedding=text_embeds * scale * keep_text[:, None],
                                   encoder_hidden_states=tokens(keep_text) if reads_captions(self.prior) else None
                                   ).predicted_image_embedding
            losses["prior"] = F.mse_loss(predicted.float(), target.float())
        if self.learns("decoder"):  # v from noisy latents, the image embedding and the caption
            noise, t = draw(latents.shape), timesteps()
            noisy = self.decoder_noise.add_noise(latents, noise, t)
            v = self.decoder_noise.get_velocity(latents, noise, t)
            condition = image_embeds * scale * keep_image[:, None]
            states = tokens(keep_caption) if reads_captions(self.unet) else None
            out = self.unet(noisy, t, encoder_hidden_states=states, added_cond_kwargs={"image_embeds": condition}).sample
            losses["decoder"] = F.mse_loss(out.float(), v.float())
        return losses
