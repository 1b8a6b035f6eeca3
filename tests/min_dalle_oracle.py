"""min-dalle's answers for a folder in its layout, computed in a separate process.

Tests call `ask_min_dalle`, which runs this file as `python tests/min_dalle_oracle.py
REQUEST.json OUT.pt`. min-dalle is the reference DALL·E Mini/Mega (a test dependency);
importing it switches autograd off and changes the thread count for the whole process, so
the tests ask it here rather than importing it. REQUEST holds the folder, and what is
wanted: with a model, its sizes, captions, codes to score and the sampling runs (each with
the logits after super-conditioning at its 256 steps: min-dalle's own codes teacher-force
them); then (optionally) codes to decode, a grid of code maps to decode seamless and tiled,
and `tokenize`: token ids of captions for other vocabularies.
"""

import json
import subprocess
import sys
from pathlib import Path

import torch


def ask_min_dalle(root: Path, model: Path | None = None, dims: dict | None = None, **request) -> dict:
    """min-dalle's answers (this file, in a subprocess) for the folder at root; without a model,
    only its detokenizer's (`decode`, `grid`)."""
    request = {"vqgan": str(root / "vqgan"), **request}
    if model is not None:
        request |= {"model": str(model), "dims": dims}
    (root / "request.json").write_text(json.dumps(request), encoding="utf-8")
    done = subprocess.run([sys.executable, __file__, str(root / "request.json"), str(root / "answers.pt")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(root / "answers.pt")


def main(request_path: str, out_path: str) -> None:
    import min_dalle  # noqa: F401 - first: importing it sets the thread count, which this sets back

    request = json.loads(open(request_path, encoding="utf-8").read())
    torch.set_num_threads(1)
    out = bart_answers(request) if "model" in request else {}
    if request.get("tokenize") is not None:
        out["tokenized"] = [min_dalle_tokenizer(entry["folder"]).tokenize(caption)
                            for entry in request["tokenize"] for caption in entry["captions"]]
    if request.get("decode") is not None or request.get("grid") is not None:
        out |= detokenizer_answers(request)
    torch.save(out, out_path)


def min_dalle_tokenizer(folder: str):
    """The TextTokenizer MinDalle.init_tokenizer itself reads from folder's vocab.json and
    merges.txt (its request for its repository's config.json answered with nothing)."""
    from unittest import mock

    from min_dalle import min_dalle

    dalle = object.__new__(min_dalle.MinDalle)
    dalle.__dict__.update(vocab_path=f"{folder}/vocab.json", merges_path=f"{folder}/merges.txt", is_verbose=False)
    with mock.patch.object(min_dalle.requests, "get"):
        dalle.init_tokenizer()
    return dalle.tokenizer


def bart_answers(request: dict) -> dict:
    from min_dalle.min_dalle import MinDalle
    from min_dalle.models import DalleBartDecoder, DalleBartEncoder

    model, dims = request["model"], request["dims"]
    tokenizer = min_dalle_tokenizer(model)
    encoder = DalleBartEncoder(layer_count=dims["layers"], embed_count=dims["width"],
                               attention_head_count=dims["heads"], text_vocab_count=dims["text_vocab"],
                               text_token_count=64, glu_embed_count=dims["glu"], device="cpu").eval()
    encoder.load_state_dict(torch.load(f"{model}/encoder.pt"), strict=False)
    decoder = DalleBartDecoder(image_vocab_count=dims["image_vocab"] - 1, embed_count=dims["width"],
                               attention_head_count=dims["heads"], glu_embed_count=dims["glu"],
                               layer_count=dims["layers"], device="cpu").eval()
    decoder.load_state_dict(torch.load(f"{model}/decoder.pt"), strict=False)
    out = {"tokens": [tokenizer.tokenize(caption) for caption in request["captions"]]}

    # encoder states and teacher-forced logits for (empty caption, caption) rows
    text = torch.tensor(request["text_rows"])
    states = encoder(text)
    out["states"] = states
    codes = torch.tensor(request["codes"])  # 1 x steps
    steps = codes.shape[1]
    cache = torch.zeros(dims["layers"], 4, 256, dims["width"])
    previous = torch.cat([torch.full((1, 1), 2**14 - 1), codes[:, :-1]], dim=1)
    logits = []
    for i in range(steps):
        step, cache = decoder(attention_mask=text.ne(1)[:, None, None, :], encoder_state=states,
                              attention_state=cache, prev_tokens=previous[:, [i]], token_index=torch.tensor([i]))
        logits.append(step[:, -1])
    out["logits"] = torch.stack(logits, dim=1)  # 2 x steps x image_vocab

    # MinDalle's own sampling loop, its images replaced by the codes they would be made from;
    # its decoder's logits are recorded at each step, and super-conditioned as sample_tokens does
    forward, raw = decoder.forward, []
    decoder.forward = lambda **kwargs: raw.append(forward(**kwargs)) or raw[-1]
    dalle = object.__new__(MinDalle)
    dalle.__dict__.update(device="cpu", is_mega=False, is_reusable=True, dtype=torch.float32, is_verbose=False,
                          text_token_count=64, layer_count=dims["layers"], attention_head_count=dims["heads"],
                          embed_count=dims["width"], glu_embed_count=dims["glu"],
                          text_vocab_count=dims["text_vocab"], image_vocab_count=dims["image_vocab"] - 1,
                          tokenizer=tokenizer, encoder=encoder, decoder=decoder)
    dalle.image_grid_from_tokens = lambda image_tokens, is_seamless, is_verbose=False: image_tokens.clone()
    out["samples"], out["sample_logits"] = [], []
    for run in request["samples"]:
        raw.clear()
        out["samples"].append(next(dalle.generate_raw_image_stream(
            run["caption"], seed=1, grid_size=1, top_k=1, supercondition_factor=run["supercondition"]))[0])
        factor = torch.tensor([run["supercondition"]])
        out["sample_logits"].append(torch.stack([guided(logits[:, -1, : 2**14], factor)[0] for logits, _ in raw]))
    return out


def guided(logits: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """DalleBartDecoder.sample_tokens's super-conditioning of (unconditional, conditional) rows."""
    return logits[:1] * (1 - factor) + logits[1:] * factor


def detokenizer_answers(request: dict) -> dict:
    """Pixels H x W x 3 in 0..255 from min-dalle's VQGanDetokenizer.forward(is_seamless, codes):
    `decode` (one code map), and `grid` (grid² maps) both seamless and tiled."""
    from min_dalle.models import VQGanDetokenizer

    vqgan = request["vqgan"]
    detokenizer = VQGanDetokenizer().eval()
    state = torch.load(f"{vqgan}/detoker.pt")
    if request.get("stand_in_decoder"):
        # min-dalle's Decoder class has one size (128 base channels, 16x upsampling: some 20 s
        # per 2 x 2 grid on a CPU thread), so a folder with a smaller VQGAN runs min-dalle's
        # forward (its codebook, the joining of the maps, post_quant_conv, the clip to 0..255)
        # around taming's Decoder with the folder's weights, whose pixels equal min-dalle's
        # Decoder's where both can load them (test_dalle_bart_min_dalle.py)
        from artengine.plugins.dalle.bart.detokenizer import load_detokenizer

        detokenizer.decoder = load_detokenizer(Path(vqgan, "detoker.pt"), None, 16).decoder
        state = {key: value for key, value in state.items() if not key.startswith("decoder.")}
        loaded = detokenizer.load_state_dict(state, strict=False)
        assert not loaded.unexpected_keys and all(key.startswith("decoder.") for key in loaded.missing_keys)
    else:
        detokenizer.load_state_dict(state)
    out = {}
    if request.get("decode") is not None:
        out["pixels"] = detokenizer(False, torch.tensor([request["decode"]]))
    if request.get("grid") is not None:
        codes = torch.tensor(request["grid"])  # grid² x 256
        out["seamless"] = detokenizer(True, codes)
        if request.get("tiled", True):  # its tiled view takes tiles of 256 x 256 pixels
            out["tiled"] = detokenizer(False, codes)
    return out


if __name__ == "__main__":
    with torch.no_grad():
        main(*sys.argv[1:])
