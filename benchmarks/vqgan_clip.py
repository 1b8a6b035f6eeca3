"""Speed of vqgan-clip against a textbook VQGAN+CLIP loop on the same models and settings.

    python benchmarks/vqgan_clip.py                  # the CPU configuration, and CUDA when present
    python benchmarks/vqgan_clip.py --config cpu --steps 30

Configurations:
- cpu:  vqgan:shapes + clip:shapes, 64x64, 16 cutouts, on the CPU;
- cuda: the imagenet f16-16384 VQGAN and open_clip ViT-B-32 architectures (random weights,
        written to a temporary folder: nothing is downloaded), 256x256, 32 cutouts, on CUDA.

Both loops run the same models, one candidate, the same augmentations (affine, perspective,
noise). The textbook loop is the one written below, as the public notebooks run it: cutouts
cut in a Python loop and resized one by one, augmented one by one, fp32, no autocast; text
embedded once; the VQGAN's weights left trainable, so `backward` also computes their
gradients. Timing runs both loops in one process, alternating blocks of 5 steps after a
warm-up, so that other load on the machine weighs on both alike; peak memory is measured with
each loop alone in its own process. Prints one JSON document: milliseconds per step (median),
peak memory (CUDA: max allocated; CPU: peak resident set), and the ratios; the speedup is the
median over pairs of neighbouring blocks of their ratio.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pairing import paired_ratio  # noqa: E402  (after ROOT is on the path)

PROMPT = "a large red circle on the left on a black background"
AUGMENT = ["affine", "perspective", "noise"]
CONFIGS = {
    "cpu": {"device": "cpu", "size": 64, "cutn": 16, "vqgan": "vqgan:shapes", "clip": "clip:shapes"},
    "cuda": {"device": "cuda", "size": 256, "cutn": 32, "vqgan": "published-f16-16384", "clip": "published-ViT-B-32"},
}
F16_DDCONFIG = {"double_z": False, "z_channels": 256, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 1, 2, 2, 4], "num_res_blocks": 2, "attn_resolutions": [16], "dropout": 0.0}


# -- the textbook loop ---------------------------------------------------------------------------


def textbook(vqgan, clip, size: int, cutn: int, device: str):
    """VQGAN+CLIP as the public notebooks write it (one candidate); yields after each step."""
    import torch
    import torch.nn.functional as F
    import torchvision.transforms.v2.functional as TF

    class ClampWithGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, low, high):
            ctx.low, ctx.high = low, high
            ctx.save_for_backward(x)
            return x.clamp(low, high)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * (grad * (x - x.clamp(ctx.low, ctx.high)) >= 0), None, None

    def vector_quantize(x, codebook):
        d = x.pow(2).sum(-1, keepdim=True) + codebook.pow(2).sum(1) - 2 * x @ codebook.T
        x_q = F.one_hot(d.argmin(-1), codebook.shape[0]).to(d.dtype) @ codebook
        return x + (x_q - x).detach()

    def synth(z):
        z_q = vector_quantize(z.movedim(1, 3), codebook).movedim(3, 1)
        if hasattr(vqgan, "decoder"):
            return ClampWithGrad.apply((vqgan.decoder(vqgan.post_quant_conv(z_q)) + 1) / 2, 0, 1)
        return ClampWithGrad.apply(vqgan.decode_latents(z_q), 0, 1)

    def augment(cutout):
        if torch.rand([]) < 0.7:
            cutout = TF.affine(cutout, angle=float(torch.empty([]).uniform_(-15, 15)),
                               translate=[float(torch.empty([]).uniform_(-0.1, 0.1) * cut_size)] * 2,
                               scale=float(torch.empty([]).uniform_(0.9, 1.1)), shear=[0.0, 0.0],
                               interpolation=TF.InterpolationMode.BILINEAR)
        if torch.rand([]) < 0.7:
            corners = [[0, 0], [cut_size - 1, 0], [cut_size - 1, cut_size - 1], [0, cut_size - 1]]
            moved = [[x + int(torch.randint(-cut_size // 5, cut_size // 5 + 1, ())),
                      y + int(torch.randint(-cut_size // 5, cut_size // 5 + 1, ()))] for x, y in corners]
            cutout = TF.perspective(cutout, corners, moved, interpolation=TF.InterpolationMode.BILINEAR)
        return cutout

    vqgan = copy.deepcopy(vqgan).requires_grad_(True)  # the notebooks leave the VQGAN's weights trainable
    codebook = vqgan.codebook.detach()
    factor = int(vqgan.factor)
    toks = size // factor
    one_hot = F.one_hot(torch.randint(codebook.shape[0], [toks * toks], device=device), codebook.shape[0]).float()
    z = (one_hot @ codebook).view(1, toks, toks, -1).permute(0, 3, 1, 2).clone().requires_grad_(True)
    z_min = codebook.min(0).values[None, :, None, None]
    z_max = codebook.max(0).values[None, :, None, None]
    optimizer = torch.optim.Adam([z], lr=0.1)
    cut_size = int(clip.image_size[0] if isinstance(clip.image_size, (tuple, list)) else clip.image_size)
    with torch.no_grad():
        target = F.normalize(clip.encode_text([PROMPT]).float(), dim=-1)
    while True:
        optimizer.zero_grad()
        out = synth(z)
        side = out.shape[-1]
        min_size, max_size = min(side, cut_size), side
        cutouts = []
        for _ in range(cutn):
            s = int(torch.rand([]) * (max_size - min_size) + min_size)
            x = int(torch.randint(0, side - s + 1, ()))
            y = int(torch.randint(0, side - s + 1, ()))
            cutouts.append(augment(F.adaptive_avg_pool2d(out[:, :, y:y + s, x:x + s], cut_size)))
        batch = ClampWithGrad.apply(torch.cat(cutouts), 0, 1)
        batch = batch + batch.new_empty([cutn, 1, 1, 1]).uniform_(0, 0.1) * torch.randn_like(batch)
        embeddings = F.normalize(clip.encode_image(batch).float(), dim=-1)
        loss = (embeddings - target).norm(dim=-1).div(2).arcsin().pow(2).mul(2).mean()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            z.copy_(z.maximum(z_min).minimum(z_max))
        yield


# -- artengine ----------------------------------------------------------------------------------------


def artengine(vqgan_spec: str, clip_spec: str, size: int, cutn: int, device: str):
    """The vqgan-clip generator's own steps (what `generate` runs between progress calls)."""
    from artengine import parse_prompt
    from artengine.interfaces import Request
    from artengine.options import resolve_options
    import artengine.plugins.clip_guided as vqgan_clip
    from artengine.plugins.clip_guided.loop import Optimisation
    from artengine.plugins.clip_guided.steering import frozen

    options = resolve_options(vqgan_clip.VQGANCLIP.options, {"vqgan": vqgan_spec, "clip": [clip_spec], "steps": 1_000_000,
                                                             "cutn": cutn, "augment": AUGMENT}, "benchmark")
    generator = vqgan_clip.VQGANCLIP(options, device)
    request = Request(parse_prompt(PROMPT), (0,), (size, size), device, options)
    generator.check(request)
    run = Optimisation(request)
    with frozen(run.vqgan, *run.steering.models):
        run.start()
        for step in range(options["steps"]):
            run.step(step)
            yield


# -- measuring --------------------------------------------------------------------------------------


def loops(vqgan_spec: str, clip_spec: str, size: int, cutn: int, device: str) -> dict:
    import torch

    from artengine import discovery, load_model

    discovery.host.load()
    torch.manual_seed(0)
    vqgan, clip = load_model(vqgan_spec, device), load_model(clip_spec, device)
    return {"textbook": textbook(vqgan, clip, size, cutn, device),
            "artengine": artengine(vqgan_spec, clip_spec, size, cutn, device)}


def timed_step(loop, device: str) -> float:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    next(loop)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def measure_time(vqgan_spec, clip_spec, size, cutn, steps, warmup, device, block=5) -> dict:
    """Both loops in one process, alternating blocks of steps, so that whatever else the
    machine is doing weighs on both alike; median milliseconds per step."""
    variants = loops(vqgan_spec, clip_spec, size, cutn, device)
    for loop in variants.values():
        for _ in range(warmup):
            next(loop)
    times = {name: [] for name in variants}
    while len(times["artengine"]) < steps:
        for name, loop in variants.items():
            times[name] += [timed_step(loop, device) for _ in range(block)]
    report = {name: {"ms_per_step": round(statistics.median(values) * 1000, 2),
                     "ms_per_step_mean": round(statistics.fmean(values) * 1000, 2), "steps_timed": len(values)}
              for name, values in times.items()}
    textbook, artengine = (block_means(times[name], block) for name in ("textbook", "artengine"))
    report["speedup"] = round(paired_ratio(textbook, artengine), 2)
    return report


def block_means(values: list[float], block: int) -> list[float]:
    """Mean seconds per step of each block of `block` consecutive steps."""
    return [statistics.fmean(values[start : start + block]) for start in range(0, len(values), block)]


def measure_memory(variant, vqgan_spec, clip_spec, size, cutn, steps, device) -> dict:
    """Peak memory of one loop alone (CUDA: max allocated; CPU: the process's peak resident set)."""
    import resource

    import torch

    loop = loops(vqgan_spec, clip_spec, size, cutn, device)[variant]
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for _ in range(steps):
        next(loop)
    peak = (torch.cuda.max_memory_allocated() if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"peak_memory_mb": round(peak / 2**20, 1)}


def published_models(folder: Path) -> tuple[str, str]:
    """The imagenet f16-16384 VQGAN (taming layout) and ViT-B-32 (open_clip folder), random weights."""
    import contextlib
    import io

    import open_clip
    import torch
    from open_clip.model import CLIP
    from taming.modules.diffusionmodules.model import Decoder, Encoder
    from taming.modules.vqvae.quantize import VectorQuantizer2

    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        parts = {"encoder": Encoder(**F16_DDCONFIG), "decoder": Decoder(**F16_DDCONFIG)}
    parts.update(quantize=VectorQuantizer2(16384, 256, beta=0.25), quant_conv=torch.nn.Conv2d(256, 256, 1),
                 post_quant_conv=torch.nn.Conv2d(256, 256, 1))
    state = {f"{name}.{key}": value for name, part in parts.items() for key, value in part.state_dict().items()}
    torch.save({"state_dict": state}, folder / "vqgan.ckpt")
    params = {"embed_dim": 256, "n_embed": 16384, "ddconfig": F16_DDCONFIG}
    (folder / "vqgan.yaml").write_text(json.dumps({"model": {"target": "taming.models.vqgan.VQModel", "params": params}}))
    config = open_clip.get_model_config("ViT-B-32")
    clip_folder = folder / "clip"
    clip_folder.mkdir()
    torch.save(CLIP(**config).state_dict(), clip_folder / "open_clip_pytorch_model.bin")
    (clip_folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config, "preprocess_cfg": {}}))
    return f"vqgan:{folder / 'vqgan.ckpt'}", f"clip:{clip_folder}"


def run_config(name: str, settings: dict, steps: int, warmup: int) -> dict:
    import torch

    with tempfile.TemporaryDirectory() as folder:
        vqgan, clip = settings["vqgan"], settings["clip"]
        if vqgan.startswith("published"):
            vqgan, clip = published_models(Path(folder))
        common = ["--threads", str(torch.get_num_threads()), "--vqgan", vqgan, "--clip", clip, "--size", str(settings["size"]), "--cutn", str(settings["cutn"]),
                  "--warmup", str(warmup), "--device", settings["device"]]
        results = child(["--child", "time", "--steps", str(steps), *common])
        speedup = results.pop("speedup")
        for variant in ("textbook", "artengine"):
            results[variant].update(child(["--child", variant, "--steps", str(warmup + 3), *common]))
    return {
        "config": name,
        "settings": {**settings, "warmup": warmup, "augment": AUGMENT, "prompt": PROMPT},
        **results,
        "speedup": speedup,
        "memory_ratio": round(results["artengine"]["peak_memory_mb"] / results["textbook"]["peak_memory_mb"], 3),
    }


def child(arguments: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"benchmark child {' '.join(arguments)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads on the CPU (default: torch's choice)")
    parser.add_argument("--child", choices=["time", "textbook", "artengine"], help=argparse.SUPPRESS)
    parser.add_argument("--vqgan", help="VQGAN spec for the cpu configuration (default vqgan:shapes)")
    parser.add_argument("--clip", help="CLIP spec for the cpu configuration (default clip:shapes)")
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cutn", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--device", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child == "time":
        print(json.dumps(measure_time(args.vqgan, args.clip, args.size, args.cutn, args.steps, args.warmup,
                                      args.device)))
        return
    if args.child:
        print(json.dumps(measure_memory(args.child, args.vqgan, args.clip, args.size, args.cutn, args.steps,
                                        args.device)))
        return
    names = ["cpu", "cuda"] if args.config == "all" else [args.config]
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "configs": []}
    if "cuda" in names and not torch.cuda.is_available():
        report["skipped"] = "cuda: no CUDA device here"
        names.remove("cuda")
    else:
        report["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    for name in names:
        settings = dict(CONFIGS[name])
        if name == "cpu":
            settings.update({k: v for k, v in (("vqgan", args.vqgan), ("clip", args.clip)) if v})
        report["configs"].append(run_config(name, settings, args.steps, args.warmup))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
