"""DALL·E Mini/Mega through `dalle-bart:` gives what min-dalle (the reference) gives.

A small random model in min-dalle's file layout is read by both; min-dalle answers in a
subprocess (tests/min_dalle_oracle.py), since importing it changes global torch state.
"""

import json
import string
from pathlib import Path
from unittest import mock

import pytest
import torch

from artengine.plugins.dalle import sampling
from artengine.plugins.dalle.bart.bundle import load_dalle_bart
from artengine.plugins.dalle.bart.random_folder import SIZES, write_random_folder
from artengine.plugins.dalle.bart.text import BartTokenizer
from artengine.plugins.dalle.sampling import SamplingSettings, sample_codes
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
FORCED_CAPTIONS = ["an avocado armchair", "a painting of a fox in the snow", "", "zebra quokka xylophone"]
SAMPLES = [{"caption": caption, "supercondition": factor} for caption in FORCED_CAPTIONS for factor in (1.0, 16.0)]
FREE_RUNNING = SAMPLES.index({"caption": "a painting of a fox in the snow", "supercondition": 16.0})
LOGIT_TOLERANCE = 3e-4
"""On the logits after guidance (up to about 40 here): float32 rounding, summed in another
order by each implementation and scaled up to 31-fold by a guidance of 16 (16 cond - 15 uncond),
moved them by 1e-6 without guidance and 4e-5 with it; any real difference in what is computed
(another token, mask or position) moves them by far more."""


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


def forced_logits(dalle, caption: str, guidance: float, codes: torch.Tensor, loop: str = "eager") -> torch.Tensor:
    """256 x n_codes: the logits after guidance that the sampler, fed the generator's rows for
    `caption`, picks from at each step when every code it picks is `codes`' (teacher forcing)."""
    seen = []

    def pick(logits, noise, settings):
        seen.append(logits[0].clone())
        return codes[len(seen) - 1].expand(logits.shape[0])

    with mock.patch.object(sampling, "pick", pick):
        sample_codes(dalle.lm, dalle.text([caption]), dalle.text([""]), [5], SamplingSettings(guidance=guidance, loop=loop))
    return torch.stack(seen)


@pytest.mark.parametrize("run", SAMPLES, ids=lambda run: f"{run['caption'][:12]!r}-guidance-{run['supercondition']:g}")
def test_teacher_forced_logits_after_guidance_are_min_dalles(oracle, run):
    """min-dalle's greedy codes fed to the sampler: at every one of the 256 steps its logits
    after guidance (= min-dalle's super-conditioning factor) are min-dalle's, within rounding.
    Unlike comparing free-running codes, this cannot pass by luck nor fail at a near-tie."""
    dalle, _, _, answers = oracle
    index = SAMPLES.index(run)
    expected = answers["sample_logits"][index]
    logits = forced_logits(dalle, run["caption"], run["supercondition"], answers["samples"][index])
    assert logits.shape == expected.shape == (STEPS, 2**14)
    torch.testing.assert_close(logits, expected, atol=LOGIT_TOLERANCE, rtol=0)


def test_fixed_shape_steps_compute_the_same_logits(oracle):
    """The loop CUDA graphs replay, run uncaptured on the CPU, teacher-forced likewise."""
    dalle, _, _, answers = oracle
    run = SAMPLES[FREE_RUNNING]
    logits = forced_logits(dalle, run["caption"], run["supercondition"], answers["samples"][FREE_RUNNING], "graph")
    torch.testing.assert_close(logits, answers["sample_logits"][FREE_RUNNING], atol=LOGIT_TOLERANCE, rtol=0)


def test_greedy_sampling_draws_min_dalles_256_codes(oracle):
    """top_k=1 leaves no randomness: free-running, the sampler picks exactly min-dalle's codes,
    on a caption where min-dalle's two best codes are far apart at every step (at a near-tie,
    rounding alone may pick the other one, and every later code follows another path)."""
    dalle, _, _, answers = oracle
    run, expected = SAMPLES[FREE_RUNNING], answers["samples"][FREE_RUNNING]
    best = answers["sample_logits"][FREE_RUNNING].topk(2).values
    assert (best[:, 0] - best[:, 1]).min() > 10 * LOGIT_TOLERANCE
    settings = SamplingSettings(top_k=1, guidance=run["supercondition"], loop="eager")
    codes = sample_codes(dalle.lm, dalle.text([run["caption"]]), dalle.text([""]), [5], settings)
    assert codes.shape == (1, 256)
    assert torch.equal(codes[0], expected)


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



G = "\u0120"  # the BPE's word-start mark
TOY_MERGES = [f"{G} {c}" for c in string.ascii_lowercase] + ["e r", "i n", "a n", "r e", "e d", "o n", "i r", "a r",
                                                                 f"{G}a n"]
MERGES_FILES = {
    # merges.txt as the files that readers take differently are written; min-dalle (as OpenAI's
    # GPT-2 encoder) takes the first line for the header and the text after the last newline
    # for none, `tokenizers`' BPE.from_file keeps both
    "as published": "#version: 0.2\n" + "\n".join(TOY_MERGES) + "\n",
    "no final newline": "#version: 0.2\n" + "\n".join(TOY_MERGES),  # 'Ġa n' is no merge to min-dalle
    "no header": "\n".join(TOY_MERGES) + "\n",  # nor 'Ġ a'
    "CRLF": "#version: 0.2\r\n" + "\r\n".join(TOY_MERGES) + "\r\n",
    "a pair listed twice": "#version: 0.2\n" + "\n".join(TOY_MERGES + ["r e"]) + "\n",  # its last rank counts
}
TOY_CAPTIONS = ["an avocado armchair", "a red circle to the left of a blue square", "a fire in the rain", "Ant"]


@pytest.fixture(scope="module")
def toy_tokens(tmp_path_factory):
    """{variant: (our ids, min-dalle's ids)} for the toy vocabulary of letters, letters after the
    word-start mark and a few pairs, with each way of writing its merges.txt."""
    root = tmp_path_factory.mktemp("toy-bpe")
    tokens = ["<s>", "<pad>", "</s>", "<unk>", G, *string.ascii_lowercase, *(G + c for c in string.ascii_lowercase),
              *(merge.replace(" ", "") for merge in TOY_MERGES[26:])]
    entries = []
    for number, text in enumerate(MERGES_FILES.values()):
        folder = root / str(number)
        folder.mkdir()
        (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}), encoding="utf-8")
        (folder / "merges.txt").write_bytes(text.encode())
        entries.append({"folder": str(folder), "captions": TOY_CAPTIONS})
    answers = iter(ask_min_dalle(root, tokenize=entries)["tokenized"])
    return {variant: ([BartTokenizer(Path(entry["folder"], "vocab.json"), Path(entry["folder"], "merges.txt")).ids(c)
                       for c in TOY_CAPTIONS], [next(answers) for _ in TOY_CAPTIONS])
            for variant, entry in zip(MERGES_FILES, entries)}


@pytest.mark.parametrize("variant", MERGES_FILES)
def test_merges_txt_is_read_as_min_dalle_reads_it(toy_tokens, variant):
    ours, min_dalles = toy_tokens[variant]
    assert ours == min_dalles


def test_the_merges_files_do_tokenize_differently(toy_tokens):
    """The table's files are not all one: each drops or re-ranks a merge the captions use."""
    assert len({str(min_dalles) for _, min_dalles in toy_tokens.values()}) == len(MERGES_FILES) - 1  # CRLF = LF


@pytest.mark.slow
def test_teacher_forced_over_the_sweeps_50_captions():
    """benchmarks/min_dalle_equivalence.py on one folder with the DALL·E Mini report's toy
    vocabulary (its merges.txt without a final newline, what first parted them): every caption
    that fits min-dalle's 64 text positions tokenizes alike, its teacher-forced logits after
    guidance 1 and 16 stay within LOGIT_TOLERANCE at all 256 steps, and no greedy code parts."""
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "min_dalle_equivalence.py"), "--seeds", "0",
                           "--vocab", "toy"],
                          capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [report["vocabulary"] for report in reports] == ["toy"]
    for report in reports:
        for guidance in ("guidance 1", "guidance 16"):
            figures = report[guidance]
            assert figures["captions"] + figures["cut_captions"] == 50
            assert figures["ids_differ"] == figures["codes_differ"] == 0, report
            assert figures["forced_max_diff"] < LOGIT_TOLERANCE, report
