"""min-dalle's answers for a folder in its layout, computed in a separate process.

Run as `python tests/min_dalle_oracle.py REQUEST.json OUT.pt`. min-dalle is the reference
DALL·E Mini/Mega (a test dependency); importing it switches autograd off and changes the
thread count for the whole process, so the tests ask it here rather than importing it.
REQUEST holds the folder, its sizes, captions, codes to score, the sampling runs wanted and
(optionally) codes to decode.
"""

import json
import sys

import torch


def main(request_path: str, out_path: str) -> None:
    from min_dalle.min_dalle import MinDalle
    from min_dalle.models import DalleBartDecoder, DalleBartEncoder, VQGanDetokenizer
    from min_dalle.text_tokenizer import TextTokenizer

    request = json.loads(open(request_path, encoding="utf-8").read())
    torch.set_num_threads(1)
    model, vqgan, dims = request["model"], request["vqgan"], request["dims"]
    with open(f"{model}/vocab.json", encoding="utf-8") as handle:
        vocab = json.load(handle)
    with open(f"{model}/merges.txt", encoding="utf-8") as handle:
        merges = handle.read().split("\n")[1:-1]  # as MinDalle.init_tokenizer reads it
    tokenizer = TextTokenizer(vocab, merges)
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

    # MinDalle's own sampling loop, its images replaced by the codes they would be made from
    dalle = object.__new__(MinDalle)
    dalle.__dict__.update(device="cpu", is_mega=False, is_reusable=True, dtype=torch.float32, is_verbose=False,
                          text_token_count=64, layer_count=dims["layers"], attention_head_count=dims["heads"],
                          embed_count=dims["width"], glu_embed_count=dims["glu"],
                          text_vocab_count=dims["text_vocab"], image_vocab_count=dims["image_vocab"] - 1,
                          tokenizer=tokenizer, encoder=encoder, decoder=decoder)
    dalle.image_grid_from_tokens = lambda image_tokens, is_seamless, is_verbose=False: image_tokens.clone()
    out["samples"] = [next(dalle.generate_raw_image_stream(run["caption"], seed=1, grid_size=1, top_k=1,
                                                            supercondition_factor=run["supercondition"]))[0]
                      for run in request["samples"]]

    if request.get("decode") is not None:
        detokenizer = VQGanDetokenizer().eval()
        detokenizer.load_state_dict(torch.load(f"{vqgan}/detoker.pt"))
        out["pixels"] = detokenizer(False, torch.tensor([request["decode"]]))  # H x W x 3 in 0..255
    torch.save(out, out_path)


if __name__ == "__main__":
    with torch.no_grad():
        main(*sys.argv[1:])
