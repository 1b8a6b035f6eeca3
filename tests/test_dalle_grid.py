"""`generator.grid G`: each image is G x G tiles; `generator.seamless`: their codes decoded as
one map, as min-dalle's `grid_size` and `is_seamless` do (min-dalle answers in a subprocess,
tests/min_dalle_oracle.py)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from artengine.files import read_png_metadata
from artengine.plugins.dalle.bart.bundle import load_dalle_bart
from artengine.plugins.dalle.bart.random_folder import write_random_folder
from artengine.plugins.dalle.grid import grid_picture, join_codes, tile_seeds
from tests.dalle_helpers import make_checkpoint
from tests.min_dalle_oracle import ask_min_dalle

pytestmark = pytest.mark.usefixtures("one_thread")


def random_maps(count: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 2**14, (count, 16, 16), generator=torch.Generator().manual_seed(seed))


def pixels(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image).astype(np.float32))


def test_tile_t_goes_to_column_t_div_g_and_row_t_mod_g():
    maps = torch.arange(4)[:, None, None].expand(4, 2, 3)  # map t holds code t everywhere
    assert join_codes(maps, 2).tolist() == [[0, 0, 0, 2, 2, 2],
                                            [0, 0, 0, 2, 2, 2],
                                            [1, 1, 1, 3, 3, 3],
                                            [1, 1, 1, 3, 3, 3]]


def test_a_candidates_first_tile_has_its_seed_and_no_tile_is_another_candidates():
    assert tile_seeds(7, 1) == [7]
    tiles = [tile_seeds(seed, 3) for seed in range(7, 11)]
    assert [t[0] for t in tiles] == [7, 8, 9, 10]
    assert len({seed for t in tiles for seed in t}) == 4 * 9
    assert tile_seeds(7, 3) == tiles[0]  # the same every time: reproduce remakes the grid


@pytest.fixture(scope="module")
def shallow(tmp_path_factory, one_thread):
    """A tiny random folder in min-dalle's layout whose VQGAN upsamples 4x, not 16x, and is 32
    channels wide (min-dalle's: 128): a 2 x 2 grid decodes to 128 x 128 pixels in a fraction of
    a second."""
    from artengine.plugins.dalle.bart.detokenizer import Detokenizer

    root = tmp_path_factory.mktemp("grid")
    write_random_folder(root, "tiny", seed=5, image_encoder=False)
    torch.manual_seed(5)
    config = dict(ch=32, out_ch=3, ch_mult=[1, 2, 4], num_res_blocks=2, attn_resolutions=[16], in_channels=3,
                  resolution=64, z_channels=256, dropout=0.0)
    torch.save(Detokenizer(2**14, 256, config).state_dict(), root / "vqgan" / "detoker.pt")
    return root, load_dalle_bart(str(root))


def test_the_seamless_picture_is_min_dalles_for_the_same_codes(shallow):
    """min-dalle's VQGanDetokenizer.forward(True, codes) for 2 x 2 maps, around this folder's
    VQGAN decoder (min-dalle's own Decoder class has one size, which the slow test below uses)."""
    root, dalle = shallow
    maps = random_maps(4)
    answers = ask_min_dalle(root, grid=maps.flatten(1).tolist(), stand_in_decoder=True, tiled=False)
    ours = pixels(grid_picture(dalle.vqgan, maps, 2, seamless=True))
    assert ours.shape == (128, 128, 3)
    # the same arithmetic in another order, then rounded to whole levels here
    torch.testing.assert_close(ours, answers["seamless"], atol=0.6, rtol=0)
    tiled = pixels(grid_picture(dalle.vqgan, maps, 2, seamless=False))
    assert (tiled - ours).abs().max() > 10  # joined, a tile's pixels read its neighbours' codes


@pytest.mark.slow
def test_with_min_dalles_own_vqgan_the_seamless_and_tiled_pictures_are_its(tmp_path):
    """At min-dalle's VQGAN size (128 base channels, 512 x 512 pixels): minutes on a CPU."""
    write_random_folder(tmp_path, "tiny", seed=6, image_encoder=False, vqgan_channels=128)
    maps = random_maps(4, seed=1)
    answers = ask_min_dalle(tmp_path, grid=maps.flatten(1).tolist())
    vqgan = load_dalle_bart(str(tmp_path)).vqgan
    assert answers["seamless"].std() > 1
    for seamless, theirs in ((True, answers["seamless"]), (False, answers["tiled"])):
        ours = pixels(grid_picture(vqgan, maps, 2, seamless))
        # rounding, and the group norms' eps (1e-6 here, 1e-5 in min-dalle: test_dalle_bart_min_dalle.py)
        torch.testing.assert_close(ours, theirs, atol=0.8, rtol=0)


def model_flag(tmp_path):
    make_checkpoint(tmp_path / "model")
    return f"generator.model=dalle:{tmp_path / 'model'}"


def test_a_tiled_grid_is_the_images_of_its_tile_seeds(dalle_host, cli, tmp_path):
    """Tiles are sampled batch_size at a time like candidates; previews show those in a batch."""
    flag = model_flag(tmp_path)
    result = cli("generate", "a red square", "-g", "dalle", "--set", flag, "--seed", "3", "--json",
                 "--set", "generator.grid=2", "--set", "generator.batch_size=3", "--set", "generator.save_every=4")
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)["images"]
    grid = Image.open(record["path"])
    assert grid.size == (128, 128)
    seeds = tile_seeds(3, 2)
    assert read_png_metadata(record["path"])["metadata"]["tile_seeds"] == seeds
    for t, seed in enumerate(seeds):  # in min-dalle's order: down the first column, then the next
        alone = cli("generate", "a red square", "-g", "dalle", "--set", flag, "--seed", str(seed), "--json")
        [image] = json.loads(alone.stdout)["images"]
        box = (t // 2 * 64, t % 2 * 64, t // 2 * 64 + 64, t % 2 * 64 + 64)
        assert np.array_equal(np.asarray(grid.crop(box)), np.asarray(Image.open(image["path"])))
    previews = sorted((tmp_path / json.loads(result.stdout)["run_dir"] / "previews").iterdir())
    assert [Image.open(p).size for p in previews] == [(3 * 64, 64), (64, 64)]  # row 4 of batches of 3 and 1


def test_seamless_without_a_grid_and_a_wrong_size_are_one_clear_line(dalle_host, cli, tmp_path):
    flag = model_flag(tmp_path)
    result = cli("generate", "a red square", "-g", "dalle", "--set", flag, "-n", "4",
                 "--set", "generator.seamless=true")
    assert result.exit_code == 2
    assert result.output.strip() == ("artengine: error: generator.seamless=true joins the tiles of a grid, but "
                                     "generator.grid is 1; set generator.grid=2 (or more) to make each image a "
                                     "seamless grid x grid picture")
    result = cli("generate", "a red square", "-g", "dalle", "--set", flag, "--set", "generator.grid=3",
                 "--size", "64x64")
    assert result.exit_code == 2 and "makes 192x192 images (3x3 tiles); use --size 192x192" in result.output
    assert not (tmp_path / "outputs").exists()


def test_the_joined_decode_is_in_the_memory_estimate(shallow, monkeypatch):
    """At grid 8 the joined map's decode (3 GiB here, most of it the attention's scores over
    128 x 128 positions) is what does not fit in 3 GiB."""
    import artengine.memory
    from artengine import UsageError
    from artengine.plugins.dalle.generator import check_loadable
    from artengine.plugins.dalle.memory import estimate_bytes, joined_decode_bytes

    _, dalle = shallow
    options = {"model": "dalle-bart:shallow", "batch_size": 4, "guidance": 1.0, "precision": "fp32",
               "init_image": "", "grid": 8, "seamless": False}
    tiled = SimpleNamespace(count=1, device="cpu", options=options)
    seamless = SimpleNamespace(count=1, device="cpu", options=dict(options, seamless=True))
    assert joined_decode_bytes(dalle, tiled.options) == 0
    assert estimate_bytes(dalle, seamless) - estimate_bytes(dalle, tiled) == joined_decode_bytes(dalle, seamless.options)
    assert 3 * 2**30 < estimate_bytes(dalle, seamless) < 4 * 2**30 and estimate_bytes(dalle, tiled) < 2**30
    monkeypatch.setattr(artengine, "load_model", lambda spec, device: dalle)
    monkeypatch.setattr(artengine.memory, "free_bytes", lambda device: 3 * 2**30)
    check_loadable(tiled)
    with pytest.raises(UsageError, match="seamless 8x8 grids .* lower generator.grid or generator.batch_size"):
        check_loadable(seamless)


def test_a_grid_too_large_to_decode_is_refused_before_sampling(dalle_host, cli, shallow, tmp_path):
    root, _ = shallow
    result = cli("generate", "a cat", "-g", "dalle", "--set", f"generator.model=dalle-bart:{root}",
                 "--set", "generator.grid=64", "--set", "generator.seamless=true")
    assert result.exit_code == 2 and "lower generator.grid" in result.output, result.output
    assert not (tmp_path / "outputs").exists()


def test_a_seamless_grid_of_the_shipped_model_is_one_image_that_reproduces(builtin_plugins, cli):
    """The shapes model's VQGAN decodes the joined 16 x 16 codes into one 128 x 128 picture;
    -n/--keep rerank whole pictures."""
    result = cli("generate", "a red circle", "-g", "dalle", "-n", "2", "--keep", "1", "--seed", "5", "--json",
                 "--set", "generator.grid=2", "--set", "generator.seamless=true")
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)["images"]
    picture = Image.open(record["path"])
    assert picture.size == (128, 128)
    generator = read_png_metadata(record["path"])["config"]["generator"]
    assert (generator["name"], generator["grid"], generator["seamless"]) == ("dalle", 2, True)
    again = cli("reproduce", record["path"], "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["identical"] is True
