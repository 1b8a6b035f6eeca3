"""DALL·E Mini/Mega sampling: artengine's `dalle` sampler against min-dalle's, on the same weights.

Used by `benchmarks/dalle_sampling.py --config mini` (Mini's dimensions; meant for a CPU)
and `--config mega` (Mega's; meant for CUDA). One random BART in min-dalle's parameter
names is shared by both (min-dalle's modules take the very same tensors), with the same
captions, batch, top-k, temperature and super-conditioning factor (= artengine's guidance).

Both sides time the sampling of the 256 codes per image; the VQGAN decoding that turns codes
into pixels is the same network in both and is timed once, apart (`decode_s_per_image`).
min-dalle's side is its decoder's `sample_tokens` step driven by the loop of its
`generate_raw_image_stream`, restated here because that function takes only square grids of
images (batch 4 is 2x2, batch 8 is no grid). min-dalle is a test dependency only.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

CAPTION = "a painting of a fox in the snow"
TOP_K, SUPERCONDITION = 256, 16.0  # min-dalle's defaults
METHODS = ("artengine", "artengine_default", "min_dalle")


def build(config: str, device: str):
    """(our DalleBart-like model, min-dalle's MinDalle sharing its weights), float32."""
    import torch

    from artengine.plugins.dalle.bart.model import BartLM, BartShape
    from artengine.plugins.dalle.bart.random_folder import SIZES as DIMS, train_vocabulary
    from artengine.plugins.dalle.bart.text import BartTokenizer

    threads = torch.get_num_threads()
    try:
        from min_dalle.min_dalle import MinDalle  # switches autograd off and sets the thread count
        from min_dalle.models import DalleBartDecoder, DalleBartEncoder
        from min_dalle.text_tokenizer import TextTokenizer
    except ImportError:
        raise SystemExit("--config mini and mega time min-dalle too: pip install min-dalle==0.4.11 "
                         "(in the project's test extra)") from None

    torch.set_num_threads(threads)
    dims = DIMS[config]
    shape = BartShape(text_length=64, image_tokens=256, **dims)
    torch.manual_seed(0)
    with torch.device(device):
        lm = BartLM(shape, 2**14).eval().requires_grad_(False)
    folder = Path(tempfile.mkdtemp(prefix="min-dalle-vocab-"))
    train_vocabulary(folder, 1024)
    tokenizer = BartTokenizer(folder / "vocab.json", folder / "merges.txt")
    vocab = tokenizer.vocab
    merges = (folder / "merges.txt").read_text(encoding="utf-8").split("\n")[1:-1]

    peer = object.__new__(MinDalle)
    peer.__dict__.update(device=device, is_mega=config == "mega", is_reusable=True, dtype=torch.float32,
                         is_verbose=False, text_token_count=64, layer_count=shape.layers,
                         attention_head_count=shape.heads, embed_count=shape.width, glu_embed_count=shape.glu,
                         text_vocab_count=shape.text_vocab, image_vocab_count=shape.image_vocab - 1,
                         tokenizer=TextTokenizer(vocab, merges))
    with torch.device("meta"):
        encoder = DalleBartEncoder(layer_count=shape.layers, embed_count=shape.width,
                                   attention_head_count=shape.heads, text_vocab_count=shape.text_vocab,
                                   text_token_count=64, glu_embed_count=shape.glu, device=device)
        decoder = DalleBartDecoder(image_vocab_count=shape.image_vocab - 1, embed_count=shape.width,
                                   attention_head_count=shape.heads, glu_embed_count=shape.glu,
                                   layer_count=shape.layers, device=device)
    encoder.load_state_dict(lm.encoder.state_dict(), strict=True, assign=True)
    decoder.load_state_dict(lm.decoder.state_dict(), strict=True, assign=True)
    peer.encoder, peer.decoder = encoder.eval(), decoder.eval()
    return lm, tokenizer, peer


def set_dtype(peer, dtype) -> None:
    """min-dalle's own way of running in half precision: its modules in `dtype`, under autocast."""
    peer.dtype = dtype
    peer.encoder.to(dtype)
    peer.decoder.to(dtype)


def min_dalle_codes(peer, batch: int, top_k: int, supercondition: float, seed: int = 1):
    """B x 256 codes by min-dalle's generate_raw_image_stream loop (images not decoded)."""
    import numpy
    import torch

    tokens = peer.tokenizer.tokenize(CAPTION)[:64]
    text = numpy.ones((2, 64), dtype=numpy.int32)
    text[0, :2] = [tokens[0], tokens[-1]]
    text[1, : len(tokens)] = tokens
    text = torch.tensor(text, dtype=torch.long, device=peer.device)
    with torch.cuda.amp.autocast(dtype=peer.dtype):
        state = peer.encoder.forward(text)
        rows = [0] * batch + [1] * batch
        text, state = text[rows], state[rows]
        mask = text.not_equal(1)[:, None, None, :]
        cache = torch.zeros((peer.layer_count, batch * 4, 256, peer.embed_count), device=peer.device)
        image = torch.full((batch, 257), 2**14 - 1, dtype=torch.long, device=peer.device)
        torch.manual_seed(seed)
    indices = torch.arange(256, device=peer.device)
    settings = torch.tensor([1.0, top_k, supercondition], dtype=torch.float32, device=peer.device)
    for i in range(256):
        torch.cuda.empty_cache()
        with torch.cuda.amp.autocast(dtype=peer.dtype):
            image[:, i + 1], cache = peer.decoder.sample_tokens(settings=settings, attention_mask=mask,
                                                                 encoder_state=state, attention_state=cache,
                                                                 prev_tokens=image[:, [i]], token_index=indices[[i]])
    return image[:, 1:]


def artengine_codes(lm, tokenizer, batch: int, top_k: int, supercondition: float, precision: str):
    import torch

    from artengine.plugins.dalle.sampling import SamplingSettings, sample_codes

    device = lm.embedding.device
    text = torch.tensor([tokenizer.row(CAPTION, 64)], device=device)
    null = torch.tensor([tokenizer.row("", 64)], device=device)
    settings = SamplingSettings(top_k=top_k, guidance=supercondition, precision=precision)
    return sample_codes(lm, text, null, list(range(batch)), settings)


def decode_seconds(device: str) -> float:
    """Seconds to decode one image's 16 x 16 codes with DALL·E Mini's VQGAN (random weights)."""
    import contextlib
    import io

    import torch

    from artengine.plugins.dalle.bart.detokenizer import Detokenizer

    config = dict(ch=128, out_ch=3, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16],
                  in_channels=3, resolution=256, z_channels=256, dropout=0.0)
    with contextlib.redirect_stdout(io.StringIO()), torch.device(device):
        vqgan = Detokenizer(2**14, 256, config).eval()
    codes = torch.zeros(1, 16, 16, dtype=torch.long, device=device)
    with torch.no_grad():
        vqgan.decode(codes)
        started = time.perf_counter()
        vqgan.decode(codes)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started


def report(args) -> dict:
    """Times every method round by round (interleaved, so a busy machine slows them alike)."""
    import statistics

    import torch

    from artengine.plugins.dalle.generator import precision as default_precision
    from benchmarks.pairing import paired_ratio

    lm, tokenizer, peer = build(args.config, args.device)
    same = "fp32" if args.device == "cpu" else "bf16"  # min-dalle's autocast is CUDA-only: fp32 on a CPU
    if same == "bf16":
        set_dtype(peer, torch.bfloat16)
    default = default_precision("auto", args.device)
    methods = args.methods.split(",") if args.methods else list(METHODS)
    run = {"artengine": lambda: artengine_codes(lm, tokenizer, args.batch, TOP_K, SUPERCONDITION, same),
           "artengine_default": lambda: artengine_codes(lm, tokenizer, args.batch, TOP_K, SUPERCONDITION, default),
           "min_dalle": lambda: min_dalle_codes(peer, args.batch, TOP_K, SUPERCONDITION)}
    rounds: dict[str, list[float]] = {method: [] for method in methods}
    for _ in range(args.repeats):
        for method in methods:
            if args.device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            codes = run[method]()
            if args.device == "cuda":
                torch.cuda.synchronize()
            assert codes.shape == (args.batch, 256) and 0 <= int(codes.min()) and int(codes.max()) < 2**14
            rounds[method].append(time.perf_counter() - started)
    results = {}
    for method, times in rounds.items():
        seconds = statistics.median(times)
        results[method] = {"precision": {"artengine": same, "artengine_default": default}.get(method, same),
                           "seconds_per_batch": round(seconds, 2), "images_per_s": round(args.batch / seconds, 4),
                           "ms_per_token": round(1000 * seconds / 256, 1), "rounds_s": [round(t, 2) for t in times]}
    out = {"config": args.config, "model": f"random DALL·E {args.config.capitalize()} dimensions "
           f"({lm.shape.layers} layers x {lm.shape.width}, GLU {lm.shape.glu})", "device": args.device,
           "batch": args.batch, "repeats": args.repeats, "top_k": TOP_K, "supercondition": SUPERCONDITION,
           "methods": results, "decode_s_per_image": round(decode_seconds(args.device), 2)}
    if "min_dalle" in rounds:
        out["speedup_vs_min_dalle"] = {method: round(paired_ratio(rounds["min_dalle"], times), 2)
                                       for method, times in rounds.items() if method != "min_dalle"}
    return out
