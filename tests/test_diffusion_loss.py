"""The `diffusion` loss: score distillation from a latent diffusion model, for vqgan-clip and for
any optimising generator, through the losses hook alone."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import artengine

pytest_plugins = ("tests.unclip_helpers",)

PIXELS = '''
"""Someone else's optimising generator: it optimises pixels and knows nothing of diffusion."""
import torch
import artengine
from artengine import Candidate, Generator, Option


class Pixels(Generator):
    name = "pixels"
    description = "Optimise raw pixels with the chosen losses."
    options = (Option("steps", int, 3, "Steps."),)
    takes_losses = True

    def generate(self, request, progress):
        from PIL import Image

        width, height = request.size
        generator = torch.Generator().manual_seed(request.seeds[0])
        pixels = torch.rand(request.count, 3, height, width, generator=generator).requires_grad_(True)
        optimiser = torch.optim.Adam([pixels], lr=0.05)
        values = {}
        for step in range(request.options["steps"]):
            context = artengine.LossContext(request, request.options["steps"], step=step)
            total = sum(loss.weight * loss(pixels.clamp(0, 1), context) for loss in request.losses)
            values = {loss.name: 0 for loss in request.losses}
            optimiser.zero_grad()
            total.backward()
            optimiser.step()
        out = (pixels.detach().clamp(0, 1) * 255).byte().permute(0, 2, 3, 1).numpy()
        return [Candidate(Image.fromarray(image), seed, {"losses": sorted(values)})
                for image, seed in zip(out, request.seeds)]


@artengine.hookimpl
def register_generators(register):
    register(Pixels)
'''


class ConstantDenoiser:
    """A LatentDenoiser that always estimates the same clean latents, so the pull it gives is
    known exactly; it normalises by doubling."""

    latent_shape = (4, 2, 2)
    timesteps = 1000
    noise_schedule = None  # the loss never samples

    def __init__(self):
        self.tokenizer = SimpleNamespace(factor=8, codebook=torch.zeros(3, 4),
                                         pre_quantization=lambda images: images[:, :, ::8, ::8].repeat(1, 2, 1, 1)[:, :4])
        self.target = torch.arange(16.0).view(1, 4, 2, 2) / 8
        self.noise_levels = []

    def condition(self, prompt, generators):
        return torch.ones(len(generators), 3), torch.zeros(len(generators), 3)

    def unconditional(self, count):
        return torch.zeros(count, 3)

    def normalise(self, latents):
        return latents * 2

    def denormalise(self, latents):
        return latents / 2

    def add_noise(self, clean, noise, t):
        self.noise_levels.append(t.tolist())
        return clean + noise

    def predict_clean(self, noisy, t, condition, negative=None, guidance=1.0):
        def estimate(rows):  # conditioned rows estimate target + 1
            return self.target + rows[:, :1, None, None]

        if negative is None:
            return estimate(condition)
        return estimate(negative) + guidance * (estimate(condition) - estimate(negative))


class ConstantLoader(artengine.ModelLoader):
    kind = "constant"
    description = "A constant denoiser (tests)."
    model = ConstantDenoiser()

    def load(self, name, device):
        return self.model


class Plugin:
    @artengine.hookimpl
    def register_model_loaders(self, register):
        register(ConstantLoader())


@pytest.fixture
def diffusion_loss(builtin_plugins):
    builtin_plugins.add(Plugin(), name="constant-denoiser")
    registry = artengine.get_registry()

    def make(weight=1.0, **options):
        cls = registry.loss("diffusion")
        options = {"model": "constant:target", **options}
        return cls({"weight": weight, **artengine.resolve_options(cls.options, options, "test", "losses.diffusion")}, "cpu")

    return make


def run_record(result) -> dict:
    """run.json of a `generate --json` run, with its folder."""
    assert result.exit_code == 0, result.output
    folder = Path(json.loads(result.stdout)["run_dir"])
    return {**json.loads((folder / "run.json").read_text()), "folder": str(folder)}


def request(prompt="a red circle", seeds=(0,)):
    return artengine.Request(artengine.parse_prompt(prompt), tuple(seeds), (16, 16), "cpu", {})


def context_for(latents, seeds, step=0, steps=10):
    return artengine.LossContext(request(seeds=seeds), steps, step=step, latents=latents,
                                 tokenizer=ConstantLoader.model.tokenizer)


def test_the_loss_is_half_the_squared_distance_to_the_guided_estimate_per_position(diffusion_loss):
    """|x - x0|^2 / 2 summed over channels, averaged over positions and candidates, x the
    normalised latents and x0 = unconditional + guidance * (conditioned - unconditional)."""
    latents = torch.randn(2, 4, 2, 2, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    value = diffusion_loss(guidance=3.0)(torch.zeros(2, 3, 16, 16), context_for(latents, (3, 4)))
    estimate = ConstantLoader.model.target + 3.0  # 0 + 3 * (1 - 0) above the target
    expected = (latents.detach() * 2 - estimate).pow(2).sum(1).mean() / 2
    assert torch.allclose(value, expected)
    value.backward()  # the gradient pulls towards the estimate, with no backward pass through the model
    assert torch.allclose(latents.grad, (latents.detach() * 2 - estimate) * 2 / (2 * 4))


def test_the_noise_level_anneals_from_t_max_to_t_min_over_the_steps(diffusion_loss):
    loss, latents = diffusion_loss(t_max=0.8, t_min=0.2), torch.zeros(1, 4, 2, 2)
    ConstantLoader.model.noise_levels.clear()
    for step in range(5):
        loss(torch.zeros(1, 3, 16, 16), context_for(latents, (1,), step=step, steps=5))
    assert ConstantLoader.model.noise_levels == [[799], [649], [500], [350], [200]]


def test_without_its_latents_the_loss_encodes_the_images(diffusion_loss):
    images = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    value = diffusion_loss(guidance=1.0)(images, artengine.LossContext(request(seeds=(1,)), 1))
    encoded = ConstantLoader.model.tokenizer.pre_quantization(images) * 2
    assert torch.allclose(value, (encoded - ConstantLoader.model.target - 1).pow(2).sum(1).mean() / 2)


def test_a_candidate_depends_on_its_own_seed_alone(diffusion_loss):
    """Each candidate's noise comes from its own seed: candidate 7 is the same alone or beside 8."""
    latents = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(1))
    alone = diffusion_loss(schedule="random")(torch.zeros(1, 3, 16, 16), context_for(latents, (7,)))
    pair = torch.cat([latents, latents + 5])
    ConstantLoader.model.noise_levels.clear()
    beside = diffusion_loss(schedule="random")
    beside(torch.zeros(2, 3, 16, 16), context_for(pair, (7, 8)))
    levels = ConstantLoader.model.noise_levels[0]
    ConstantLoader.model.noise_levels.clear()
    diffusion_loss(schedule="random")(torch.zeros(1, 3, 16, 16), context_for(latents, (7,)))
    assert ConstantLoader.model.noise_levels[0][0] == levels[0] and levels[0] != levels[1]
    assert alone.dim() == 0


def test_vqgan_clip_adds_the_loss_when_its_model_draws_in_its_latent_space(builtin_plugins, cli, tmp_path):
    def losses(*extra):
        result = cli("generate", "a red circle", "-g", "vqgan-clip", "--seed", "1", "--json",
                     "--set", "generator.steps=2", "--set", "generator.cutn=2", *extra)
        assert result.exit_code == 0, result.output
        return set(run_record(result)["images"][0]["metadata"]["losses"])

    assert losses() == {"clip", "diffusion"}  # vqgan:shapes, the latent space of unclip:shapes
    assert losses("--set", "generator.diffusion_weight=0") == {"clip"}
    assert losses("--loss", "diffusion:0.5", "--set", "generator.diffusion_weight=0") == {"clip", "diffusion"}


def test_a_third_party_generator_gets_the_loss_with_no_change_to_either(builtin_plugins, cli, tmp_path):
    from tests.unclip_helpers import make_unclip_folder

    denoiser_folder = make_unclip_folder(tmp_path / "tiny-unclip")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "pixels.py").write_text(PIXELS)

    def image(*extra):
        result = cli("--plugins-dir", plugins, "generate", "a red circle", "-g", "pixels", "--seed", "2", "--json",
                     *extra)
        assert result.exit_code == 0, result.output
        record = run_record(result)["images"][0]
        return record["metadata"]["losses"], (Path(run_record(result)["folder"]) / record["path"]).read_bytes()

    with_loss, shaped = image("--loss", "tv:1", "--loss", "diffusion:1",
                              "--set", f"losses.diffusion.model=unclip:{denoiser_folder}")
    without, plain = image("--loss", "tv:1")
    assert with_loss == ["diffusion", "tv"] and without == ["tv"] and shaped != plain


@pytest.mark.parametrize("options, message", [
    ({"model": "clip:shapes"}, "losses.diffusion.model 'clip:shapes' loads a ClipModel, which is not a LatentDenoiser"),
    ({"t_min": 0.8, "t_max": 0.2}, "t_min 0.8 is above t_max 0.2"),
])
def test_bad_settings_are_one_line(builtin_plugins, cli, options, message):
    sets = [arg for key, value in options.items() for arg in ("--set", f"losses.diffusion.{key}={value}")]
    result = cli("generate", "a red circle", "-g", "vqgan-clip", "--loss", "diffusion:1", "--set",
                 "generator.steps=1", "--set", "generator.cutn=1", *sets)
    assert result.exit_code != 0 and message in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
