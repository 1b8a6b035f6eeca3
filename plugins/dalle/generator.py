"""The `dalle` generator's work: caption -> sampled codes -> VQGAN-decoded candidates."""

from __future__ import annotations

import torch

import artengine
import artengine.files
from artengine import Candidate, StopRequested, UsageError

from .sampling import SamplingSettings, sample_codes


def conditioning(prompt) -> tuple[str, str]:
    """(caption, null caption) for a prompt: the positive parts joined by spaces, and the
    negative parts joined (empty without any), which guidance steers away from."""
    positive = " ".join(part.text for part in prompt.positive)
    negative = " ".join(part.text for part in prompt.negative)
    return positive, negative


def check_loadable(request) -> None:
    """Load the model (cached for `generate`) and read the init image, raising UsageError."""
    dalle = artengine.load_model(request.options["model"], request.device)
    from artengine.devices import check_fits

    from .memory import estimate_bytes

    options = request.options
    grid = options["grid"]
    maps = min(request.count * grid**2, options["batch_size"])
    if grid == 1:
        what, lower = f"dalle with {maps} candidates at once", "generator.batch_size (or -n)"
    else:
        kind = "seamless " if options["seamless"] else ""
        what = f"dalle with {kind}{grid}x{grid} grids ({maps} tiles sampled at once)"
        lower = "generator.grid or generator.batch_size"
    check_fits(estimate_bytes(dalle, request), request.device, lower, what)
    if request.options["init_image"]:  # read and encode it now: a model may lack the VQGAN's encoder
        with torch.no_grad():
            prime_codes(dalle, request.options, dalle.device)


def prime_rows(dalle, options) -> int:
    layout = dalle.layout
    rows = options["prime_rows"] or layout.rows // 2
    if rows >= layout.rows:
        raise UsageError(f"generator.prime_rows={rows}: this model's images have {layout.rows} rows of codes; "
                         f"prime at most {layout.rows - 1}")
    return rows


def prime_codes(dalle, options, device) -> torch.Tensor | None:
    """The first rows of codes of `init_image`, as 1 x (prime_rows * cols), or None."""
    path = options["init_image"]
    if not path:
        return None
    from PIL import Image

    rows = prime_rows(dalle, options)
    image = artengine.files.read_image(path, "generator.init_image").resize(dalle.image_size, Image.BICUBIC)
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    pixels = pixels.view(image.height, image.width, 3).permute(2, 0, 1)[None].float().div(255).to(device)
    codes = dalle.vqgan.encode(pixels).view(1, -1)
    return codes[:, : rows * dalle.layout.cols]


DECODE_CHUNK = 4
"""Images decoded together. A candidate's pixels must not depend on the batch it was sampled in
(`reproduce` remakes it alone). The sampler's rows are independent, but a convolution can
round differently for another number of images (decoding one image alone moved a reproduced
candidate by one pixel level, on vqgan:shapes on a CPU), while within one shape an image's
result depends neither on its neighbours nor on its place. So codes are always decoded
DECODE_CHUNK at a time, the last chunk filled up with copies of its last row; on a CPU a chunk
of 4 costs about what one image alone does (benchmarks/dalle_decode.py)."""


def to_images(vqgan, codes: torch.Tensor, rows: int, cols: int):
    """One RGB image per row of `codes`, decoded in chunks of DECODE_CHUNK (see there)."""
    count = codes.shape[0]
    if count == 0:
        return []
    filler = codes[-1:].expand(-count % DECODE_CHUNK, -1)
    chunks = torch.cat([codes, filler]).view(-1, rows, cols).split(DECODE_CHUNK)
    with torch.no_grad():
        pixels = torch.cat([vqgan.decode(chunk) for chunk in chunks])[:count]
    return to_pil(pixels)


def to_pil(pixels: torch.Tensor):
    """RGB images from decoded pixels B x 3 x H x W (clamped to [0, 1])."""
    from PIL import Image

    array = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a, "RGB") for a in array]


def preview_image(dalle, codes: torch.Tensor, rows: int):
    """The candidates side by side, each with its first `rows` rows of codes decoded and the
    rest black (the VQGAN is convolutional, so the rows so far decode on their own)."""
    from PIL import Image

    layout, (width, height) = dalle.layout, dalle.image_size
    tops = to_images(dalle.vqgan, codes[:, : rows * layout.cols], rows, layout.cols)
    sheet = Image.new("RGB", (width * len(tops), height))
    for index, top in enumerate(tops):
        sheet.paste(top, (index * width, 0))
    return sheet


def precision(choice: str, device: str) -> str:
    """'auto' is bf16 where the hardware does it natively (measured faster there), else fp32."""
    from artengine.devices import native_bf16

    return choice if choice != "auto" else "bf16" if native_bf16(device) else "fp32"


def generate(request, progress) -> list[Candidate]:
    """Sample the code maps of every candidate (grid² tiles each, grid.py) `batch_size` maps
    at a time, and decode each candidate once all its maps are drawn."""
    from .grid import tile_seeds

    options = request.options
    dalle = artengine.load_model(options["model"], request.device)
    layout = dalle.layout
    settings = SamplingSettings(options["temperature"], options["top_k"], options["top_p"], options["guidance"],
                        precision(options["precision"], request.device),
                        loop="auto" if options["cuda_graphs"] else "eager")
    caption, negative = conditioning(request.prompt)
    text, null_text = dalle.text([caption]), dalle.text([negative])
    prime = prime_codes(dalle, options, dalle.device)
    grid = options["grid"]
    seeds = [tile for seed in request.seeds for tile in tile_seeds(seed, grid)]
    size = options["batch_size"]
    total = len(seeds) * layout.image_tokens
    candidates: list[Candidate] = []
    drawn = torch.zeros(0, layout.image_tokens, dtype=torch.long, device=dalle.device)  # maps of no candidate yet
    try:
        for first in range(0, len(seeds), size):
            chunk = seeds[first : first + size]
            done = first * layout.image_tokens

            out = torch.zeros(len(chunk), layout.image_tokens, dtype=torch.long, device=dalle.device)

            def on_token(i, done=done, count=len(chunk), out=out):
                if (i + 1) % layout.cols == 0:
                    row = (i + 1) // layout.cols
                    wanted = options["save_every"] and row % options["save_every"] == 0 and row < layout.rows
                    preview = preview_image(dalle, out, row) if wanted else None
                    progress(done + (i + 1) * count, total, preview)

            codes = sample_codes(dalle.lm, text, null_text, chunk, settings, prime, on_token, out=out)
            drawn = torch.cat([drawn, codes])
            complete = len(drawn) // grid**2
            for image in pictures(dalle, drawn[: complete * grid**2], grid, options["seamless"]):
                seed = request.seeds[len(candidates)]
                metadata = {"model": options["model"]}
                if prime is not None:
                    metadata["primed_codes"] = prime.shape[1]
                if grid > 1:
                    metadata["tile_seeds"] = tile_seeds(seed, grid)
                candidates.append(Candidate(image, seed, metadata))
            drawn = drawn[complete * grid**2 :]
    except StopRequested:
        for candidate in candidates:
            candidate.metadata["interrupted"] = True
    return candidates


def pictures(dalle, codes: torch.Tensor, grid: int, seamless: bool) -> list:
    """One picture per grid² rows of `codes`: the image itself for a 1 x 1 grid."""
    layout = dalle.layout
    if grid == 1:
        return to_images(dalle.vqgan, codes, layout.rows, layout.cols)
    from .grid import grid_picture

    maps = codes.view(-1, grid**2, layout.rows, layout.cols)
    return [grid_picture(dalle.vqgan, tiles, grid, seamless) for tiles in maps]
