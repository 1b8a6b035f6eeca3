"""DALL·E Mini/Mega through `dalle-bart:` gives what min-dalle (the reference) gives.

A small random model in min-dalle's file layout is read by both; min-dalle answers in a
subprocess (tests/min_dalle_oracle.py), since importing it changes global torch state.
"""

import pytest
import torch

from artengine.plugins.dalle.bart.bundle import load_dalle_bart
from artengine.plugins.dalle.bart.random_folder import SIZES, write_random_folder
from artengine.plugins.dalle.sampling import Settings, sample_codes
from tests.min_dalle_oracle import ask_min_dalle

CAPTIONS = [
    "an avocado armchair",
    "A Painting of a FOX in the snow, knitted out of wool!",
    "  two   spaces\tand a tab ",
    "café crème 🥑 at night",  # accents dropped, the emoji spelled out
    "",
    "zebra quokka xylophone",  # words the vocabulary was not trained on
]
STEPS = 256
pytestmark = pytest.mark.usefixtures("one_thread")
SAMPLES = [{"caption": "a painting of a fox in the snow", "supercondition": 1.0},
           {"caption": "an avocado armchair", "supercondition": 16.0}]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory, one_thread):
    """(our model, min-dalle's answers) for one random folder."""
    root = tmp_path_factory.mktemp("min-dalle")
    # min-dalle's VQGAN class has one fixed size: its base width is 128
    model = write_random_folder(root, "tiny", seed=3, image_encoder=False, vqgan_channels=128)
    dalle = load_dalle_bart(str(root))
    codes = torch.randint(0, 2**14, (1, STEPS), generator=torch.Generator().manual_seed(0))
    text = dalle.text(["", CAPTIONS[1]])
    answers = ask_min_dalle(root, model, dict(SIZES["tiny"], heads=dalle.lm.shape.heads), captions=CAPTIONS,
                            text_rows=text.tolist(), codes=codes.tolist(), samples=SAMPLES,
                            decode=codes[0].tolist())
    return dalle, text, codes, answers


def test_token_ids_are_min_dalles(oracle):
    dalle, _, _, answers = oracle
    assert [dalle.tokenizer.ids(caption) for caption in CAPTIONS] == answers["tokens"]
    assert len(set(map(tuple, answers["tokens"]))) == len(CAPTIONS)  # the captions do differ


def test_encoder_states_match(oracle):
    dalle, text, _, answers = oracle
    with torch.no_grad():
        states = dalle.lm.encoder(text)
    torch.testing.assert_close(states, answers["states"], atol=1e-4, rtol=1e-4)


def test_decoder_logits_match_step_by_step(oracle):
    """Teacher-forced logits of all 256 positions, for the empty caption and a caption."""
    dalle, text, codes, answers = oracle
    with torch.no_grad():
        logits = dalle.lm(text, codes.expand(2, -1))
    expected = answers["logits"][..., : 2**14]
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("run", SAMPLES, ids=lambda run: f"supercondition-{run['supercondition']:g}")
def test_greedy_sampling_draws_min_dalles_256_codes(oracle, run):
    """top_k=1 leaves no randomness: the cached sampler (guidance = min-dalle's super-conditioning
    factor) must pick exactly min-dalle's codes."""
    dalle, _, _, answers = oracle
    settings = Settings(top_k=1, guidance=run["supercondition"], loop="eager")
    codes = sample_codes(dalle.lm, dalle.text([run["caption"]]), dalle.text([""]), [5], settings)
    expected = answers["samples"][SAMPLES.index(run)]
    assert codes.shape == (1, 256)
    assert torch.equal(codes[0], expected)


def test_fixed_shape_steps_draw_the_same_codes(oracle):
    """The loop CUDA graphs replay, run uncaptured on the CPU."""
    dalle, _, _, answers = oracle
    settings = Settings(top_k=1, guidance=16.0, loop="graph")
    codes = sample_codes(dalle.lm, dalle.text([SAMPLES[1]["caption"]]), dalle.text([""]), [5], settings)
    assert torch.equal(codes[0], answers["samples"][1])


def test_decoded_pixels_match(oracle):
    dalle, _, codes, answers = oracle
    with torch.no_grad():
        pixels = dalle.vqgan.decode(codes.view(1, 16, 16))[0].permute(1, 2, 0) * 255
    # taming's group norms use eps 1e-6 (the trained VQGAN's), min-dalle's 1e-5: a tiny difference
    torch.testing.assert_close(pixels, answers["pixels"], atol=0.25, rtol=0)
    assert answers["pixels"].std() > 1  # not a blank image


@pytest.mark.slow
def test_at_dalle_minis_full_size_the_first_codes_score_as_min_dalle_scores_them(tmp_path, one_thread):
    """DALL·E Mini's own dimensions (12 layers x 1024, its 50,264-token text vocabulary), random
    weights: the same token ids, encoder states and logits of the first image positions."""
    model = write_random_folder(tmp_path, "mini", seed=4, image_encoder=False)
    dalle = load_dalle_bart(str(tmp_path))
    assert dalle.lm.shape.layers == 12 and dalle.lm.shape.width == 1024
    codes = torch.randint(0, 2**14, (1, 4), generator=torch.Generator().manual_seed(1))
    text = dalle.text(["", CAPTIONS[0]])
    answers = ask_min_dalle(tmp_path, model, dict(SIZES["mini"], heads=dalle.lm.shape.heads), captions=CAPTIONS[:2],
                            text_rows=text.tolist(), codes=codes.tolist(), samples=[])
    assert [dalle.tokenizer.ids(caption) for caption in CAPTIONS[:2]] == answers["tokens"]
    with torch.no_grad():
        torch.testing.assert_close(dalle.lm.encoder(text), answers["states"], atol=1e-4, rtol=1e-4)
        logits = dalle.lm(text, codes.expand(2, -1))
    torch.testing.assert_close(logits, answers["logits"][..., : 2**14], atol=1e-4, rtol=1e-4)

