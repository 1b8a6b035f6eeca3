"""`artengine generate -g unclip`: DALL·E 2's prior and decoder on a tiny random folder."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.unclip_helpers import make_unclip_folder

pytest_plugins = ("tests.unclip_helpers",)

FAST = ("--set", "generator.prior_steps=3", "--set", "generator.decoder_steps=3")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_unclip_folder(tmp_path_factory.mktemp("unclip") / "tiny")


def draw(cli, folder, prompt, *args):
    result = cli("generate", prompt, "-g", "unclip", "--set", f"generator.model=unclip:{folder}", *FAST, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def pixels(document, index=0, seed=None):
    """The pixels of the image at `index` in the document's (ranked) list, or of the one with `seed`."""
    images = document["images"]
    image = images[index] if seed is None else next(i for i in images if i["seed"] == seed)
    return np.asarray(Image.open(image["path"]), dtype=np.int16)


def test_candidates_are_reranked_by_the_scorer_and_carry_webui_infotext(unclip_host, cli, folder):
    document = draw(cli, folder, "a red circle", "-n", "3", "--keep", "2", "--seed", "4")
    images = document["images"]
    assert [i["rank"] for i in images] == [1, 2] and images[0]["score"] >= images[1]["score"]
    assert Image.open(images[0]["path"]).size == (64, 64)
    infotext = Image.open(images[0]["path"]).info["parameters"]
    assert "Steps: 3" in infotext and "Sampler: default" in infotext and "CFG scale: 2.0" in infotext


def test_a_seed_gives_the_same_pixels_and_options_change_them(unclip_host, cli, folder):
    plain = pixels(draw(cli, folder, "a red circle", "--seed", "3"))
    assert (pixels(draw(cli, folder, "a red circle", "--seed", "3")) == plain).all()
    ddim = ("--set", "generator.scheduler=ddim")
    for options in (("generator.decoder_guidance=1.0",), ("generator.prior_guidance=8",), ("generator.scheduler=ddim",),
                    ("generator.snap=false",), ("generator.prior_candidates=2",)):
        sets = [arg for option in options for arg in ("--set", option)]
        assert (pixels(draw(cli, folder, "a red circle", "--seed", "3", *sets)) != plain).any(), options
    # eta is DDIM's
    assert (pixels(draw(cli, folder, "a red circle", "--seed", "3", *ddim, "--set", "generator.eta=1.0"))
            != pixels(draw(cli, folder, "a red circle", "--seed", "3", *ddim))).any()


def test_a_candidate_does_not_depend_on_how_many_were_drawn_so_reproduce_is_identical(unclip_host, cli, folder):
    many = draw(cli, folder, "a blue square", "-n", "6", "--seed", "10")
    one = draw(cli, folder, "a blue square", "-n", "1", "--seed", "15")
    assert (pixels(many, seed=15) == pixels(one)).all()
    result = cli("reproduce", next(i["path"] for i in many["images"] if i["seed"] == 14))
    assert result.exit_code == 0 and "identical" in result.output, result.output


def test_negative_and_weighted_parts_steer_the_prior_and_the_decoder(unclip_host, cli, folder):
    plain = pixels(draw(cli, folder, "a red circle", "--seed", "2"))
    negative = pixels(draw(cli, folder, "a red circle | a blue square:-1", "--seed", "2"))
    weighted = pixels(draw(cli, folder, "a red circle:2 | on the left:1", "--seed", "2"))
    assert (negative != plain).any() and (weighted != plain).any()


def test_variations_decode_an_images_embedding(unclip_host, cli, folder, tmp_path):
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64), (220, 40, 40)).save(source)
    other = tmp_path / "other.png"
    Image.new("RGB", (64, 64), (40, 90, 220)).save(other)
    first = pixels(draw(cli, folder, "anything", "--seed", "1", "--set", f"generator.image={source}"))
    again = pixels(draw(cli, folder, "something else", "--seed", "1", "--set", f"generator.image={source}"))
    changed = pixels(draw(cli, folder, "anything", "--seed", "1", "--set", f"generator.image={other}"))
    assert (first == again).all()  # the image, not the prompt, is what is drawn
    assert (changed != first).any()


def test_the_decoder_reads_the_caption_beside_the_image_embedding(unclip_host, folder):
    """A condition is the image embedding, then the caption's CLIP token states (DALL·E 2's
    decoder reads both); an image's (variations) and the unconditional side have no caption."""
    import torch

    from artengine.plugins.unclip.loading import load_unclip
    from artengine.plugins.unclip.model import SamplingSettings

    model = load_unclip(str(folder), "cpu")
    settings = SamplingSettings(prior_steps=2, decoder_steps=2)
    generators = [torch.Generator().manual_seed(0)]
    condition, negative = model.embed_prompt([("a red circle", 1.0)], "", generators, settings)
    assert condition.shape == (1, 1 + model.caption_length, model.dim)
    assert torch.equal(condition[:, 1:], model.caption_states(["a red circle"]))
    assert not negative.any() and not model.embed_images([Image.new("RGB", (64, 64), "red")])[:, 1:].any()

    other = torch.cat([condition[:, :1], model.caption_states(["a blue square"])], 1)
    images = [np.asarray(model.decode(c, negative, [torch.Generator().manual_seed(1)], settings)[0]) for c in
              (condition, other)]
    assert (images[0] != images[1]).any()  # same embedding and noise, another caption


def test_the_prior_reads_the_caption_beside_its_text_embedding(unclip_host, folder):
    """DALL·E 2's prior reads the encoded caption too: CLIP's pooled text embedding hardly tells
    "A left of B" from "B left of A", its token states do. Same embedding and noise, another
    caption's tokens: another image embedding."""
    import torch

    from artengine.plugins.unclip.loading import load_unclip
    from artengine.plugins.unclip.model import SamplingSettings

    model = load_unclip(str(folder), "cpu")
    settings = SamplingSettings(prior_steps=2)
    text = model.text_embeds(["a red circle to the left of a blue square"])
    unconditional = torch.zeros(1, 1 + model.caption_length, model.dim)
    embeds = [model.run_prior(torch.cat([text[:, None], model.caption_states([caption])], 1), unconditional,
                              [torch.Generator().manual_seed(0)], settings)
              for caption in ("a red circle to the left of a blue square", "a blue square to the left of a red circle")]
    assert not torch.allclose(embeds[0], embeds[1])


def test_a_folder_whose_prior_reads_no_caption_still_draws(unclip_host, cli, tmp_path):
    old = make_unclip_folder(tmp_path / "older", prior_reads_captions=False)
    document = draw(cli, old, "a red circle", "-n", "2")
    assert len(document["images"]) == 2


def test_mixing_conditions_slerps_the_embedding_and_lerps_the_caption():
    import torch

    from artengine.plugins.unclip.conditions import slerp

    a, b = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    a[:, 0], b[:, 0] = a[:, 0] / a[:, 0].norm(dim=-1, keepdim=True), b[:, 0] / b[:, 0].norm(dim=-1, keepdim=True)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    half = slerp(a, b, 0.5)
    assert torch.allclose(half[:, 0].norm(dim=-1), torch.ones(2))  # on the sphere, not the chord
    assert torch.allclose(half[:, 1:], (a[:, 1:] + b[:, 1:]) / 2)


def test_mix_weight_morphs_from_the_prompt_to_the_mix(unclip_host, cli, folder):
    mix = ("--set", 'generator.mix=["a green triangle"]')
    start = pixels(draw(cli, folder, "a red circle", "--seed", "6"))
    at = {w: pixels(draw(cli, folder, "a red circle", "--seed", "6", *mix, "--set", f"generator.mix_weight={w}"))
          for w in (0.0, 0.5, 1.0)}
    assert (at[0.0] == start).all()  # the mix leaves the decoder's noise alone
    assert (at[0.5] != start).any() and (at[0.5] != at[1.0]).any() and (at[1.0] != start).any()


def test_a_compare_axis_over_mix_weight_makes_a_morph_grid(unclip_host, cli, folder):
    result = cli("compare", "a red circle", "-g", "unclip", "--set", f"generator.model=unclip:{folder}", *FAST,
                 "--set", 'generator.mix=["a blue square"]', "--axis", "generator.mix_weight=0,0.5,1", "--json")
    assert result.exit_code == 0, result.output
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    assert (run_dir / "grid.png").is_file() and len(json.loads(result.stdout)["images"]) == 3


def test_previews_every_k_decoder_steps(unclip_host, cli, folder):
    document = draw(cli, folder, "a red circle", "-n", "2", "--set", "generator.decoder_steps=4",
                    "--set", "generator.save_every=2")
    previews = sorted((Path(document["run_dir"]) / "previews").iterdir())
    assert len(previews) == 1 and Image.open(previews[0]).size == (128, 64)


def test_a_stop_keeps_the_finished_batches_marked_interrupted(unclip_host, folder):
    import artengine
    from artengine import Request, StopRequested, parse_prompt
    from artengine.plugins.unclip import UnclipGenerator

    options = artengine.resolve_options(UnclipGenerator.options, {"model": f"unclip:{folder}", "decoder_steps": 2,
                                                                  "prior_steps": 2, "batch_size": 2}, "generator")
    calls = []

    def progress(step, total, preview=None, figures=None):
        calls.append(step)
        if len(calls) > 2:  # in the second batch
            raise StopRequested()

    request = Request(parse_prompt("a red circle"), (1, 2, 3, 4), (64, 64), "cpu", options)
    candidates = UnclipGenerator(options, "cpu").generate(request, progress)
    assert [c.seed for c in candidates] == [1, 2] and all(c.metadata["interrupted"] for c in candidates)


@pytest.mark.parametrize("make, expected", [
    (lambda d: d, "neither a folder from `artengine train unclip`"),
    (lambda d: d / "missing", "is not a folder"),
])
def test_folders_that_are_not_unclip_models_are_one_line(unclip_host, cli, tmp_path, make, expected):
    result = cli("generate", "x", "-g", "unclip", "--set", f"generator.model=unclip:{make(tmp_path)}")
    assert result.exit_code != 0 and expected in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_folder_missing_a_component_or_holding_pickles_is_one_line(unclip_host, cli, tmp_path):
    import shutil

    broken = make_unclip_folder(tmp_path / "broken")
    shutil.rmtree(broken / "unet")
    result = cli("generate", "x", "-g", "unclip", "--set", f"generator.model=unclip:{broken}")
    assert result.exit_code != 0 and "lacks its unet/ folder" in result.stderr
    pickled = make_unclip_folder(tmp_path / "pickled")
    weights = pickled / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    result = cli("generate", "x", "-g", "unclip", "--set", f"generator.model=unclip:{pickled}")
    assert result.exit_code != 0 and "pickled weights only" in result.stderr
    assert "Traceback" not in result.output


def test_a_size_the_model_cannot_make_is_refused(unclip_host, cli, folder):
    result = cli("generate", "x", "-g", "unclip", "--set", f"generator.model=unclip:{folder}", "--size", "128x128")
    assert result.exit_code != 0 and "use --size 64x64" in result.stderr


def test_each_component_loads_with_diffusers_own_classes(folder):
    from diffusers import DDPMScheduler, PriorTransformer, UNet2DConditionModel

    assert PriorTransformer.from_pretrained(folder, subfolder="prior").config.embedding_dim == 128
    assert UNet2DConditionModel.from_pretrained(folder, subfolder="unet").config.addition_embed_type == "image"
    assert DDPMScheduler.from_pretrained(folder, subfolder="scheduler").config.prediction_type == "v_prediction"
    index = json.loads((folder / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"] and index["prior"] == ["diffusers", "PriorTransformer"]
