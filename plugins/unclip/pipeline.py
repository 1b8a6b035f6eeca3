"""unCLIP on artengine's own parts: a CLIP (any TextImageEncoder) for the embeddings, the
diffusers prior and decoder UNet, and a VQGAN (any ImageTokenizer) that turns the decoder's
latents into pixels. DALL·E 2's pipeline: text -> CLIP text embedding -> prior -> CLIP image
embedding -> decoder (reading the caption's tokens too) -> latents -> image.

Each network's condition is one tensor per candidate. For a network that reads captions it is
B x (1 + L) x D: the embedding (the prior's text embedding, the decoder's image embedding), then
the caption's L token states (zero where there is no caption: variations, the unconditional
side); else the embedding alone, B x D. Whoever holds the decoder's conditions (the generator,
the diffusion loss) batches them without looking inside.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .components import decoder_scheduler, embedding_scale, prior_scheduler, reads_captions
from .conditions import blend, caption_length, encode_captions
from .model import OnStep, SamplingSettings
from .sampling import SCHEDULERS, Guided, denoise, make_scheduler, noise


class ShapesUnclip:
    """An UnclipModel (model.py) over a folder that `artengine train unclip` wrote, and an
    `artengine.LatentDenoiser` of its VQGAN's latents (what the `diffusion` loss and
    `clip-diffusion` use)."""

    schedulers = ("default", *SCHEDULERS)
    default_scheduler = "dpm++"  # trained with DDPM's schedule; DPM-Solver++ samples it in 8 steps

    def __init__(self, prior, unet, clip, vqgan, latent_mean, latent_std, device):
        self.prior, self.unet, self.clip, self.vqgan = prior, unet, clip, vqgan
        self.device = torch.device(device)
        self.latent_mean = torch.as_tensor(latent_mean, dtype=torch.float32, device=self.device)[None, :, None, None]
        self.latent_std = torch.as_tensor(latent_std, dtype=torch.float32, device=self.device)[None, :, None, None]
        self.dim = int(prior.config.embedding_dim)
        self.scale = embedding_scale(self.dim)
        side = int(unet.config.sample_size)
        self.latent_shape = (int(unet.config.in_channels), side, side)
        self.image_size = (side * vqgan.factor, side * vqgan.factor)
        self.noise_schedule = decoder_scheduler()
        self.timesteps = int(self.noise_schedule.config.num_train_timesteps)
        self.captions, self.prior_reads_captions = reads_captions(unet), reads_captions(prior)
        reads = self.captions or self.prior_reads_captions
        self.caption_length = caption_length(clip) if reads else 0

    # -- embeddings --------------------------------------------------------------------

    def text_embeds(self, texts: list[str]) -> torch.Tensor:
        """Scaled text embeddings; the empty text is the zero vector (what the prior was trained
        on for 'no caption')."""
        return encode_captions(self.clip.encode_text, texts).to(self.device) * self.scale

    def caption_states(self, texts: list[str]) -> torch.Tensor:
        """Scaled token states B x L x D of each caption; the empty text's are zero (what the
        decoder was trained on for 'no caption')."""
        return encode_captions(self.clip.encode_text_tokens, texts).to(self.device) * self.scale

    def with_caption(self, image: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's condition from image embeddings B x D and caption states (None: none)."""
        return self._condition(image, states, self.captions)

    def _condition(self, embeds: torch.Tensor, states: torch.Tensor | None, reads: bool) -> torch.Tensor:
        if not reads:
            return embeds
        if states is None:
            states = torch.zeros(len(embeds), self.caption_length, self.dim, device=self.device)
        return torch.cat([embeds[:, None], states.expand(len(embeds), -1, -1).to(embeds.dtype)], 1)

    def embed_images(self, images) -> torch.Tensor:
        from .images import to_tensor

        with torch.no_grad():
            image = self.clip.encode_image(to_tensor(images, self.image_size).to(self.device)).float() * self.scale
        return self.with_caption(image)

    def unconditional(self, count: int) -> torch.Tensor:
        return self.with_caption(torch.zeros(count, self.dim, device=self.device))

    def embed_prompt(self, texts, negative, generators, settings):
        count, weights, parts = len(generators), [weight for _, weight in texts], [text for text, _ in texts]
        text = blend(list(self.text_embeds(parts)), weights)[None].expand(count, -1)
        negative_text = self.text_embeds([negative]).expand(count, -1)
        states = negative_states = None
        if self.caption_length:  # weighted parts: their token states mixed by weight, as their embeddings are
            states = blend(list(self.caption_states(parts)), weights, torch.lerp)[None]
            negative_states = self.caption_states([negative])
        prompt = self._condition(text, states, self.prior_reads_captions)
        against = self._condition(negative_text, negative_states, self.prior_reads_captions)
        image = self.run_prior(prompt, against, generators, settings)
        if not negative:
            return self.with_caption(image, states), self.unconditional(count)
        negative_image = self.run_prior(against, torch.zeros_like(against), generators, settings)
        return self.with_caption(image, states), self.with_caption(negative_image, negative_states)

    def to_image_embeds(self, standardised: torch.Tensor) -> torch.Tensor:
        """The prior's output, back in CLIP's space: unit length (as CLIP's own), scaled."""
        return F.normalize(self.prior.post_process_latents(standardised), dim=-1) * self.scale

    # -- the two loops -----------------------------------------------------------------

    @torch.no_grad()
    def run_prior(self, text: torch.Tensor, negative: torch.Tensor, generators, settings: SamplingSettings) -> torch.Tensor:
        """Image embeddings for the prior's conditions (see the module's doc; one row per
        generator). With `prior_candidates` > 1, each candidate draws that many and keeps the one
        closest to its text embedding (DALL·E 2's trick)."""
        k = settings.prior_candidates
        x = noise((k, self.dim), generators, self.device).flatten(0, 1)  # B*k x D

        def prior(x, t, condition):
            if condition.ndim == 2:
                return self.prior(x, timestep=t, proj_embedding=condition).predicted_image_embedding
            return self.prior(x, timestep=t, proj_embedding=condition[:, 0],
                              encoder_hidden_states=condition[:, 1:]).predicted_image_embedding

        scheduler = make_scheduler(self._scheduler(settings), prior_scheduler().config)
        guided = Guided(prior, text.repeat_interleave(k, 0), negative.repeat_interleave(k, 0), settings.prior_guidance)
        embeds = self.to_image_embeds(denoise(guided, scheduler, x, settings.prior_steps, None, 0.0))
        if k == 1:
            return embeds
        embeds = embeds.view(len(generators), k, self.dim)
        pooled = text if text.ndim == 2 else text[:, 0]
        best = (embeds * pooled[:, None]).sum(-1).argmax(1)
        return embeds[torch.arange(len(generators)), best]

    def run_unet(self, x: torch.Tensor, t, condition: torch.Tensor) -> torch.Tensor:
        """The decoder's output (v) for noisy latents and conditions (see the module's doc)."""
        if self.captions:
            return self.unet(x, t, encoder_hidden_states=condition[:, 1:],
                             added_cond_kwargs={"image_embeds": condition[:, 0]}).sample
        return self.unet(x, t, encoder_hidden_states=None, added_cond_kwargs={"image_embeds": condition}).sample

    @torch.no_grad()
    def decode(self, embeds, negative, generators, settings: SamplingSettings, on_step: OnStep | None = None):
        """Images for conditions (see the module's doc)."""
        from .images import to_pil

        x = noise(self.latent_shape, generators, self.device)

        def preview(i, steps, x0):
            on_step(i, steps, None if x0 is None else lambda: to_pil(self.to_pixels(x0, False)))

        scheduler = make_scheduler(self._scheduler(settings), decoder_scheduler().config)
        guided = Guided(self.run_unet, embeds, negative, settings.decoder_guidance)
        latents = denoise(guided, scheduler, x, settings.decoder_steps, generators, settings.eta,
                          None if on_step is None else preview)
        return to_pil(self.to_pixels(latents, settings.snap))

    # -- as a LatentDenoiser ------------------------------------------------------------

    @property
    def tokenizer(self):
        """The VQGAN whose latents the decoder draws."""
        return self.vqgan

    def condition(self, prompt, generators, settings: SamplingSettings | None = None):
        from .conditions import negative_text, prompt_texts

        return self.embed_prompt(prompt_texts(prompt), negative_text(prompt), generators, settings or SamplingSettings())

    def normalise(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents - self.latent_mean) / self.latent_std

    def denormalise(self, latents: torch.Tensor) -> torch.Tensor:
        return latents * self.latent_std + self.latent_mean

    def add_noise(self, clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.noise_schedule.add_noise(clean, noise, t.to(clean.device))

    def predict_clean(self, noisy: torch.Tensor, t: torch.Tensor, condition: torch.Tensor,
                      negative: torch.Tensor | None = None, guidance: float = 1.0) -> torch.Tensor:
        """x0 from the UNet's v (see `_clean`), guided away from `negative` when there is one."""
        return Guided(self._clean, condition, negative, 1.0 if negative is None else guidance)(noisy, t)

    def _clean(self, noisy: torch.Tensor, t: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """x0 from the UNet's v: x0 = sqrt(a) x_t - sqrt(1 - a) v, a the schedule's alpha-bar at t."""
        v = self.run_unet(noisy, t.to(noisy.device), condition)
        alpha = self.noise_schedule.alphas_cumprod.to(noisy.device)[t.to(noisy.device)].view(-1, 1, 1, 1)
        return alpha.sqrt() * noisy - (1 - alpha).sqrt() * v.to(noisy.dtype)

    def _scheduler(self, settings: SamplingSettings) -> str:
        return self.default_scheduler if settings.scheduler == "default" else settings.scheduler

    def to_pixels(self, latents: torch.Tensor, snap: bool) -> torch.Tensor:
        """Decode normalised latents; `snap` moves each position to its nearest VQGAN code first
        (the VQGAN's decoder was trained on codes only: snapped latents decode to crisp edges)."""
        z = self.denormalise(latents)
        if snap:
            codebook = self.vqgan.codebook.float()
            flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
            codes = torch.cdist(flat, codebook).argmin(1).view(z.shape[0], z.shape[2], z.shape[3])
            return self.vqgan.decode(codes).clamp(0, 1)
        return self.vqgan.decode_latents(z).clamp(0, 1)

    def draw(self, caption: str, seeds: list[int], settings: SamplingSettings | None = None):
        """Images of `caption`, one per seed (the trainer's samples)."""
        settings = settings or SamplingSettings()
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        embeds, negative = self.embed_prompt([(caption, 1.0)], "", generators, settings)
        return self.decode(embeds, negative, generators, settings)
