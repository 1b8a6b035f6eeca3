"""`artengine generate -g dalle`: candidates, reranking, priming, guidance, reproduce, list."""

import json

import artengine

from PIL import Image

from tests.dalle_helpers import make_checkpoint


def model_flag(tmp_path):
    make_checkpoint(tmp_path / "model")
    return f"generator.model=dalle:{tmp_path / 'model'}"


def test_n_candidates_then_keep_reranks_them_with_the_scorer(dalle_host, cli, tmp_path):
    result = cli("generate", "a red square", "-g", "dalle", "--set", model_flag(tmp_path), "-n", "6", "--keep", "2",
                 "--scorer", "redness", "--seed", "5", "--json")
    assert result.exit_code == 0, result.output
    images = json.loads(result.stdout)["images"]
    assert [i["rank"] for i in images] == [1, 2] and images[0]["score"] >= images[1]["score"]
    assert all(Image.open(i["path"]).size == (64, 64) for i in images)
    run = json.loads((tmp_path / json.loads(result.stdout)["run_dir"] / "run.json").read_text())
    kept_and_dropped = [i["score"] for i in images] + [d["score"] for d in run["discarded"]]
    assert len(kept_and_dropped) == 6 and max(kept_and_dropped) == images[0]["score"]


def test_guidance_and_sampling_options_change_the_images(dalle_host, cli, tmp_path):
    flag = model_flag(tmp_path)

    def pixels(*sets):
        result = cli("generate", "a blue circle", "-g", "dalle", "--set", flag, "--seed", "3", "--json",
                     *[arg for s in sets for arg in ("--set", s)])
        assert result.exit_code == 0, result.output
        return Image.open(json.loads(result.stdout)["images"][0]["path"]).tobytes()

    plain = pixels()
    assert pixels() == plain  # same seed, same image
    assert pixels("generator.guidance=4.0") != plain
    assert pixels("generator.top_k=1") != plain


def test_priming_starts_every_candidate_from_the_init_images_top_rows(dalle_host, cli, tmp_path):
    init = tmp_path / "init.png"
    top = Image.new("RGB", (64, 64), (250, 250, 250))
    top.paste(Image.new("RGB", (64, 32), (10, 10, 10)), (0, 32))
    top.save(init)
    result = cli("generate", "a red square", "-g", "dalle", "--set", model_flag(tmp_path), "-n", "2", "--json",
                 "--set", f"generator.init_image={json.dumps(str(init))}", "--set", "generator.prime_rows=4")
    assert result.exit_code == 0, result.output
    for record in json.loads(result.stdout)["images"]:
        image = Image.open(record["path"]).convert("RGB")
        upper = image.crop((0, 0, 64, 32))
        # the palette VQ paints each primed patch the palette colour nearest to white
        assert min(upper.getextrema()[c][0] for c in range(3)) > 120


def test_a_size_the_model_cannot_make_is_refused_before_any_work(dalle_host, cli, tmp_path):
    result = cli("generate", "a red square", "-g", "dalle", "--set", model_flag(tmp_path), "--size", "128x128")
    assert result.exit_code == 2
    assert "makes 64x64 images; use --size 64x64" in result.output


def test_bad_model_and_init_image_are_usage_errors(dalle_host, cli, tmp_path):
    result = cli("generate", "a red square", "-g", "dalle", "--set", "generator.model=clip:shapes")
    assert result.exit_code == 2 and "give a dalle checkpoint" in result.output
    result = cli("generate", "a red square", "-g", "dalle", "--set", model_flag(tmp_path),
                 "--set", 'generator.init_image="missing.png"')
    assert result.exit_code == 2 and "image file 'missing.png' does not exist" in result.output


def test_an_image_reproduces_from_its_metadata(dalle_host, cli, tmp_path):
    result = cli("generate", "a green circle", "-g", "dalle", "--set", model_flag(tmp_path), "-n", "3",
                 "--seed", "9", "--json")
    second = json.loads(result.stdout)["images"][1]["path"]
    again = cli("reproduce", second, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["identical"] is True


def test_list_models_names_the_dalle_specs(dalle_host, cli):
    result = cli("list", "models")
    assert result.exit_code == 0 and "dalle:FOLDER" in result.output


def test_save_every_sends_the_rows_so_far_as_previews(dalle_host, cli, tmp_path):
    """8 rows of codes, a preview every 3: rows 3 and 6, the rows not drawn yet black."""
    result = cli("generate", "a red square", "-g", "dalle", "--set", model_flag(tmp_path), "-n", "2", "--json",
                 "--set", "generator.save_every=3")
    assert result.exit_code == 0, result.output
    previews = sorted((tmp_path / json.loads(result.stdout)["run_dir"] / "previews").iterdir())
    assert len(previews) == 2
    first = Image.open(previews[0])
    assert first.size == (2 * 64, 64)
    assert first.crop((0, 3 * 8, 128, 64)).getextrema() == ((0, 0), (0, 0), (0, 0))
    assert first.crop((0, 0, 128, 3 * 8)).getextrema() != ((0, 0), (0, 0), (0, 0))


def test_a_cut_prompt_warning_names_the_model_as_the_user_gave_it(builtin_plugins, capsys):
    dalle = artengine.load_model("dalle:shapes")
    dalle.text(["a red circle " + " ".join(["and a blue square"] * 20)])
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("artengine: warning: dalle:shapes reads at most"), warning
