"""DALL·E Mini/Mega through the CLI: `data dalle-bart-random`, then `generate -g dalle` with
`generator.model=dalle-bart:DIR`, and a bad folder is one clear line."""

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tiny random model in min-dalle's layout, written once for the module."""
    from artengine.plugins.dalle.bart.random_folder import write_random_folder

    root = tmp_path_factory.mktemp("dalle-bart") / "models"
    write_random_folder(root, "tiny", seed=1)
    return root


def test_data_command_writes_min_dalles_layout(dalle_host, cli, tmp_path):
    result = cli("data", "dalle-bart-random", tmp_path / "models", "--no-image-encoder")
    assert result.exit_code == 0, result.output
    names = sorted(p.relative_to(tmp_path / "models").as_posix() for p in (tmp_path / "models").rglob("*.*"))
    assert names == [".artengine-folder", "dalle_bart_mini/README.md", "dalle_bart_mini/decoder.pt", "dalle_bart_mini/encoder.pt",
                     "dalle_bart_mini/merges.txt", "dalle_bart_mini/vocab.json", "vqgan/detoker.pt"]
    again = cli("data", "dalle-bart-random", tmp_path / "models")
    assert again.exit_code == 2 and "nothing is overwritten" in again.output


def test_generate_rerank_guidance_previews_and_reproduce(dalle_host, cli, folder):
    """No --size: the model makes 256x256. Previews come every save_every rows of codes."""
    result = cli("generate", "an avocado armchair", "-g", "dalle", "--set", f"generator.model=dalle-bart:{folder}",
                 "-n", "2", "--keep", "1", "--scorer", "redness", "--seed", "4", "--set", "generator.guidance=3",
                 "--set", "generator.top_k=64", "--set", "generator.save_every=6", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    [image] = run["images"]
    assert Image.open(image["path"]).size == (256, 256)
    previews = sorted(Path(run["run_dir"], "previews").iterdir())
    assert len(previews) == 2  # rows 6 and 12 of 16 (the last row is the image itself)
    preview = Image.open(previews[0])
    assert preview.size == (2 * 256, 256)
    assert preview.crop((0, 6 * 16, 512, 256)).getextrema() == ((0, 0), (0, 0), (0, 0))  # rows not drawn yet
    assert preview.crop((0, 0, 512, 6 * 16)).getextrema() != ((0, 0), (0, 0), (0, 0))
    again = cli("reproduce", image["path"], "--json")
    assert again.exit_code == 0, again.output


def test_priming_from_the_cli(dalle_host, cli, folder, tmp_path):
    init = tmp_path / "init.png"
    Image.new("RGB", (256, 256), (200, 30, 30)).save(init)
    result = cli("generate", "a red thing", "-g", "dalle", "--set", f"generator.model=dalle-bart:{folder}",
                 "--seed", "2", "--set", f"generator.init_image={json.dumps(str(init))}",
                 "--set", "generator.prime_rows=4", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(Path(json.loads(result.stdout)["run_dir"], "run.json").read_text())
    assert run["images"][0]["metadata"]["primed_codes"] == 4 * 16


def test_primed_codes_stay_and_the_rest_is_sampled(folder):
    from artengine.plugins.dalle.bart.bundle import load_dalle_bart
    from artengine.plugins.dalle.sampling import SamplingSettings, sample_codes

    dalle = load_dalle_bart(str(folder))
    image = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        prime = dalle.vqgan.encode(image).view(1, -1)[:, :64]
    text, null = dalle.text(["a fox"]), dalle.text([""])
    codes = sample_codes(dalle.lm, text, null, [1, 2], SamplingSettings(guidance=2.0), prime=prime)
    assert torch.equal(codes[:, :64], prime.expand(2, -1))
    assert not torch.equal(codes[0, 64:], codes[1, 64:])
    fixed = sample_codes(dalle.lm, text, null, [1, 2], SamplingSettings(guidance=2.0, loop="graph"), prime=prime)
    assert torch.equal(fixed, codes)


def bad(folder, tmp_path, damage):
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    damage(copy / "dalle_bart_mini", copy / "vqgan")
    return copy


class Code:
    def __reduce__(self):
        import os

        return os.system, ("echo pwned",)


@pytest.mark.parametrize("damage, message", [
    (lambda m, v: (m / "decoder.pt").unlink(), "decoder.pt' is missing"),
    (lambda m, v: (v / "detoker.pt").unlink(), "detoker.pt' is missing"),
    (lambda m, v: torch.save({**torch.load(m / "decoder.pt"), "lm_head.weight": torch.zeros(10, 128)},
                             m / "decoder.pt"), "lm_head.weight has shape (10, 128), expected (16385, 128)"),
    (lambda m, v: (m / "encoder.pt").write_bytes(pickle.dumps(Code())), "can run code"),
    (lambda m, v: (m / "encoder.pt").write_bytes((m / "encoder.pt").read_bytes()[:5000]), "encoder.pt"),
    (lambda m, v: (m / "vocab.json").write_text("{not json"), "vocab.json"),
    (lambda m, v: (m.parent / "dalle_bart_mega").mkdir(), "holds both models"),
], ids=["missing-decoder", "missing-detokenizer", "wrong-shape", "pickle-with-code", "truncated", "bad-vocab",
        "both-models"])
def test_a_bad_folder_is_one_clear_line(dalle_host, cli, folder, tmp_path, damage, message):
    copy = bad(folder, tmp_path, damage)
    result = cli("generate", "a cat", "-g", "dalle", "--set", f"generator.model=dalle-bart:{copy}")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("artengine: error:") and message in lines[0], result.output
    assert "pwned" not in result.output


def test_priming_without_the_vqgan_encoder_is_refused_before_sampling(dalle_host, cli, folder, tmp_path):
    copy = bad(folder, tmp_path, lambda m, v: (v / "encoder.pt").unlink())
    init = tmp_path / "init.png"
    Image.new("RGB", (256, 256)).save(init)
    result = cli("generate", "a cat", "-g", "dalle", "--set", f"generator.model=dalle-bart:{copy}",
                 "--set", f"generator.init_image={json.dumps(str(init))}")
    assert result.exit_code == 2 and "vqgan/encoder.pt" in result.output, result.output
    assert not (tmp_path / "outputs").exists()


def test_the_example_config_runs(builtin_plugins, cli, folder, tmp_path):
    """configs/dalle-mini.toml, with its model folder in place and fewer candidates (reranked
    by the shipped clip:shapes)."""
    shutil.copytree(folder, tmp_path / "models")  # the config names models/ under the working folder
    config = Path(__file__).parent.parent / "configs" / "dalle-mini.toml"
    result = cli("generate", "--config", config, "-n", "2", "--keep", "1", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["images"]) == 1


def test_a_batch_that_does_not_fit_is_refused_before_sampling(dalle_host, cli, folder, tmp_path):
    result = cli("generate", "a cat", "-g", "dalle", "--set", f"generator.model=dalle-bart:{folder}",
                 "-n", "4096", "--set", "generator.batch_size=4096")
    assert result.exit_code == 2 and "generator.batch_size" in result.output, result.output
    assert not (tmp_path / "outputs").exists()


def test_mega_in_bf16_needs_several_gigabytes_and_is_refused_where_they_are_not_free(monkeypatch):
    from types import SimpleNamespace

    import artengine.memory
    from artengine import UsageError
    from artengine.plugins.dalle.bart.bundle import DalleBart
    from artengine.plugins.dalle.bart.model import BartLM, BartShape
    from artengine.plugins.dalle.bart.random_folder import SIZES
    from artengine.plugins.dalle.generator import check_loadable
    from artengine.plugins.dalle.memory import estimate_bytes

    with torch.device("meta"):  # Mega's 2.6 billion parameters, without their memory
        lm = BartLM(BartShape(text_length=64, image_tokens=256, **SIZES["mega"]), 2**14)
    mega = DalleBart(lm, None, SimpleNamespace(factor=16), Path("mega"))
    options = {"model": "dalle-bart:mega", "batch_size": 8, "guidance": 16.0, "precision": "bf16", "init_image": "",
               "grid": 1, "seamless": False}
    request = SimpleNamespace(count=8, device="cuda", options=options)
    need = estimate_bytes(mega, request)
    assert 5e9 < need < 10e9  # a bf16 copy of the weights (5.2 GB), the caches, the noise, the pixels
    monkeypatch.setattr(artengine, "load_model", lambda spec, device: mega)
    monkeypatch.setattr(artengine.memory, "free_bytes", lambda device: 4 * 2**30)
    with pytest.raises(UsageError, match="generator.batch_size"):
        check_loadable(request)
    monkeypatch.setattr(artengine.memory, "free_bytes", lambda device: 24 * 2**30)
    check_loadable(request)
