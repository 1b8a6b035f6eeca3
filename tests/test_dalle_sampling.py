"""The transformer and its sampler: what the model reads and predicts, and how codes are drawn."""

import pytest
import torch

import artengine
from artengine.plugins.dalle.layout import BOS, EOS, PAD, Layout
from artengine.plugins.dalle.model import DalleLM, Shape, weighted_loss
from artengine.plugins.dalle.decoder import CachedDecoder
from artengine.plugins.dalle.sampling import SamplingSettings, filter_logits, sample_codes
from artengine.plugins.dalle.text import text_rows, train_tokenizer
from tests.dalle_helpers import CAPTIONS, make_checkpoint

LAYOUT = Layout(text_vocab=20, n_codes=30, text_length=6, rows=2, cols=3)


@pytest.fixture
def lm():
    torch.manual_seed(0)
    return DalleLM(LAYOUT, Shape(layers=2, width=32, heads=4)).eval()


@pytest.fixture
def dalle(dalle_host, tmp_path):
    make_checkpoint(tmp_path / "model")
    return artengine.load_model(f"dalle:{tmp_path / 'model'}")


def test_the_vocabulary_holds_text_then_codes_then_the_image_marker():
    assert (LAYOUT.code_offset, LAYOUT.image_start, LAYOUT.vocab_size) == (20, 50, 51)
    assert LAYOUT.positions == 6 + 6


def test_captions_become_fixed_length_rows_and_the_empty_caption_is_the_null_row():
    tokenizer = train_tokenizer(CAPTIONS, 200)
    short, long, null = text_rows(tokenizer, ["a red square", " ".join(["red"] * 50), ""], 8)
    assert short[0] == BOS and EOS in short and short[-1] == PAD and len(short) == 8
    assert len(long) == 8 and long[-1] == EOS  # cut to fit, still ended
    assert null == [BOS, EOS] + [PAD] * 6


def test_the_loss_scores_text_among_text_tokens_and_codes_among_codes(lm):
    text = torch.tensor([[BOS, 5, 6, EOS, PAD, PAD]])
    codes = torch.randint(0, 30, (1, 6))
    text_loss, image_loss = lm(text, codes)
    # a uniform model would score log(vocabulary slice); random init sits near it
    assert abs(text_loss.item() - torch.log(torch.tensor(20.0)).item()) < 1.0
    assert abs(image_loss.item() - torch.log(torch.tensor(30.0)).item()) < 1.0
    assert weighted_loss(text_loss, image_loss, (1, 7)).item() == pytest.approx((text_loss + 7 * image_loss).item() / 8)


def test_text_padding_targets_do_not_count(lm):
    codes = torch.randint(0, 30, (1, 6))
    text = torch.tensor([[BOS, 5, EOS, PAD, PAD, PAD]])
    hidden = lm.gpt.transformer(input_ids=lm.tokens(text, codes)[:, :-1]).last_hidden_state
    logits = lm.text_logits(hidden[:, :2])  # only BOS->5 and 5->EOS are targets
    expected = torch.nn.functional.cross_entropy(logits[0], torch.tensor([5, EOS]))
    assert lm(text, codes)[0].item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_cached_decoder_computes_the_same_logits_as_the_transformers_forward(lm):
    text = torch.tensor([[BOS, 5, 6, EOS, PAD, PAD], [BOS, 7, EOS, PAD, PAD, PAD]])
    codes = torch.randint(0, 30, (2, 6))
    tokens = lm.tokens(text, codes)[:, :-1]
    reference = lm.image_logits(lm.gpt(input_ids=tokens, output_hidden_states=True).hidden_states[-1])
    decoder = CachedDecoder(lm, rows=2)
    T = LAYOUT.text_length
    steps = [decoder(tokens[:, : T + 1], 0)]  # prefill text and <image> in one chunk
    steps += [decoder(tokens[:, T + 1 + i : T + 2 + i], T + 1 + i) for i in range(5)]
    cached = torch.stack([lm.image_logits(h) for h in steps], dim=1)
    torch.testing.assert_close(cached, reference[:, T:], atol=1e-5, rtol=1e-4)


def test_a_chunk_after_the_prefill_matches_token_by_token_decoding(lm):
    tokens = lm.tokens(torch.tensor([[BOS, 5, EOS, PAD, PAD, PAD]]), torch.randint(0, 30, (1, 6)))[:, :-1]
    one, chunked = CachedDecoder(lm, 1), CachedDecoder(lm, 1)
    for i in range(9):
        last = one(tokens[:, i : i + 1], i)
    chunked(tokens[:, :7], 0)
    torch.testing.assert_close(chunked(tokens[:, 7:9], 7), last, atol=1e-5, rtol=1e-4)


def test_a_prefix_shared_by_several_rows_runs_once_and_decodes_as_if_each_row_had_run_it(lm):
    text = torch.tensor([[BOS, 5, 6, EOS, PAD, PAD], [BOS, 7, EOS, PAD, PAD, PAD]])
    tokens = lm.tokens(text, torch.randint(0, 30, (2, 6)))[:, :-1]
    T = LAYOUT.text_length
    rows = tokens[:, : T + 1].repeat_interleave(3, dim=0)  # each caption three times
    shared, separate = CachedDecoder(lm, 6), CachedDecoder(lm, 6)
    torch.testing.assert_close(shared(tokens[:, : T + 1], 0, repeats=3), separate(rows, 0))
    following = torch.randint(0, 30, (6, 1)) + LAYOUT.code_offset  # then the rows diverge
    torch.testing.assert_close(shared(following, T + 1), separate(following, T + 1), atol=1e-5, rtol=1e-4)


def test_the_fixed_shape_step_decodes_as_the_eager_forward_does(lm):
    tokens = lm.tokens(torch.tensor([[BOS, 5, 6, EOS, PAD, PAD]] * 2), torch.randint(0, 30, (2, 6)))[:, :-1]
    T = LAYOUT.text_length
    eager, fixed = CachedDecoder(lm, 2), CachedDecoder(lm, 2)
    eager(tokens[:, : T + 1], 0)
    fixed(tokens[:, : T + 1], 0)
    for position in range(T + 1, LAYOUT.positions):  # the position comes from a device tensor
        token = tokens[:, position : position + 1]
        torch.testing.assert_close(fixed.step(token, torch.tensor([position])), eager(token, position),
                                   atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("settings", [SamplingSettings(), SamplingSettings(guidance=3.0, top_k=5), SamplingSettings(top_p=0.8),
                                      SamplingSettings(temperature=0.0)], ids=["plain", "guided-top-k", "top-p", "greedy"])
def test_the_graph_loop_draws_the_same_codes_as_the_eager_loop(dalle, settings):
    from dataclasses import replace

    text, null = dalle.text(["a red square"]), dalle.text(["a blue circle"])
    seen = []
    graph = sample_codes(dalle.lm, text, null, [4, 5], replace(settings, loop="graph"), on_token=seen.append)
    eager = sample_codes(dalle.lm, text, null, [4, 5], replace(settings, loop="eager"))
    assert torch.equal(graph, eager)
    assert seen == list(range(dalle.layout.image_tokens))
    prime = torch.arange(8).view(1, 8)
    primed = [sample_codes(dalle.lm, text, null, [4], replace(settings, loop=loop), prime=prime)
              for loop in ("graph", "eager")]
    assert torch.equal(*primed) and torch.equal(primed[0][:, :8], prime)


def test_without_a_graph_steps_run_one_by_one_in_order():
    from artengine.plugins.dalle.graphs import run_steps

    calls = []
    run_steps(lambda: calls.append("step"), 3, lambda k: calls.append(k), graph=False)
    assert calls == ["step", 0, "step", 1, "step", 2]


def test_a_failed_capture_samples_again_without_graphs(monkeypatch):
    from types import SimpleNamespace

    from artengine.plugins.dalle import sampling
    from artengine.plugins.dalle.graphs import CaptureFailed

    loops = []

    def fake_sample(*args, **kwargs):
        loops.append(args[-1])
        if args[-1] is sampling.graph_loop:
            raise CaptureFailed("operation not permitted when stream is capturing")
        return "codes"

    monkeypatch.setattr(sampling, "_sample", fake_sample)
    on_cuda = SimpleNamespace(embedding=SimpleNamespace(device=torch.device("cuda")))
    with pytest.warns(UserWarning, match="capture failed .*sampling eagerly"):
        assert sample_codes(on_cuda, None, None, [1], SamplingSettings()) == "codes"
    assert loops == [sampling.graph_loop, sampling.eager_loop]
    loops.clear()
    sample_codes(on_cuda, None, None, [1], SamplingSettings(loop="eager"))  # generator.cuda_graphs=false
    assert loops == [sampling.eager_loop]


def test_top_k_keeps_exactly_the_k_best_codes():
    logits = torch.tensor([[0.1, 3.0, 2.0, -1.0, 1.0]])
    kept = filter_logits(logits, top_k=2, top_p=1.0).isfinite()
    assert kept.tolist() == [[False, True, True, False, False]]


def test_top_p_keeps_the_smallest_set_reaching_p_and_never_nothing():
    probabilities = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = filter_logits(probabilities.log(), top_k=0, top_p=0.75).isfinite()
    assert kept.tolist() == [[True, True, False, False]]
    assert filter_logits(probabilities.log(), 0, 0.01).isfinite().tolist() == [[True, False, False, False]]


def test_a_candidate_depends_only_on_its_seed(dalle):
    text, null = dalle.text(["a red square"]), dalle.text([""])
    settings = SamplingSettings(temperature=1.0, top_k=8, guidance=2.0)
    batch = sample_codes(dalle.lm, text, null, [11, 12, 13], settings)
    alone = sample_codes(dalle.lm, text, null, [12], settings)
    assert torch.equal(batch[1], alone[0])
    assert not torch.equal(batch[0], batch[2])
    assert batch.min() >= 0 and batch.max() < dalle.layout.n_codes  # image codes only


def test_guidance_zero_samples_the_unconditional_model(dalle):
    null = dalle.text([""])
    guided = sample_codes(dalle.lm, dalle.text(["a blue circle"]), null, [3, 4], SamplingSettings(guidance=0.0))
    unconditional = sample_codes(dalle.lm, null, null, [3, 4], SamplingSettings(guidance=1.0))
    assert torch.equal(guided, unconditional)


def test_temperature_zero_takes_the_most_likely_code_whatever_the_seed(dalle):
    text, null = dalle.text(["a red square"]), dalle.text([""])
    codes = sample_codes(dalle.lm, text, null, [1, 2], SamplingSettings(temperature=0.0))
    assert torch.equal(codes[0], codes[1])


def test_priming_keeps_the_given_codes_and_samples_the_rest(dalle):
    text, null = dalle.text(["a red square"]), dalle.text([""])
    prime = torch.arange(16).view(1, 16) % dalle.layout.n_codes
    codes = sample_codes(dalle.lm, text, null, [1, 2], SamplingSettings(), prime=prime)
    assert torch.equal(codes[:, :16], prime.expand(2, -1))
    greedy = SamplingSettings(temperature=0.0)  # without noise, what follows can only come from the context
    primed = sample_codes(dalle.lm, text, null, [1], greedy, prime=prime)
    free = sample_codes(dalle.lm, text, null, [1], greedy)
    assert not torch.equal(primed[:, 16:], free[:, 16:])


def test_bf16_sampling_works_on_a_bf16_copy_of_the_weights_and_agrees_with_fp32(lm):
    tokens = lm.tokens(torch.tensor([[BOS, 5, 6, EOS, PAD, PAD]]), torch.randint(0, 30, (1, 6)))[:, :-1]
    T = LAYOUT.text_length
    full, half = CachedDecoder(lm, 1), CachedDecoder(lm, 1, torch.bfloat16)
    exact, rounded = full.image_logits(full(tokens[:, : T + 1], 0)), half.image_logits(half(tokens[:, : T + 1], 0))
    assert rounded.dtype == torch.float32 and lm.embedding.dtype == torch.float32  # the model is left as it was
    torch.testing.assert_close(rounded, exact, atol=0.05 * exact.abs().max().item(), rtol=0)


def test_auto_precision_is_bf16_exactly_where_the_hardware_has_it(monkeypatch):
    import artengine.devices
    from artengine.plugins.dalle.generator import precision

    monkeypatch.setattr(artengine.devices, "native_bf16", lambda device: device == "cuda")  # as plugins reach it
    assert (precision("auto", "cuda"), precision("auto", "cpu")) == ("bf16", "fp32")
    assert (precision("bf16", "cpu"), precision("fp32", "cuda")) == ("bf16", "fp32")
