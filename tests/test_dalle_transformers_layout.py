"""dalle folders are what `transformers`' save_pretrained writes: plain transformers opens them.

Each test loads a folder with transformers' own API (`GPT2LMHeadModel.from_pretrained`,
`AutoTokenizer.from_pretrained`) and compares with what artengine loads from the same folder.
"""

import json
from pathlib import Path

import pytest
import torch
import transformers
from transformers import AutoTokenizer, GPT2LMHeadModel

import artengine
import artengine.plugins.dalle
from tests.dalle_helpers import make_checkpoint, write_pairs

SHIPPED = Path(artengine.plugins.dalle.__file__).parent / "weights" / "shapes"
CAPTIONS = ["a red circle", "a small blue square above a large green triangle on a white background", ""]


def from_pretrained(folder: Path) -> GPT2LMHeadModel:
    """The folder as a transformers user loads it; nothing may be missing, left over or re-shaped."""
    model, info = GPT2LMHeadModel.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] == info["unexpected_keys"] == info["mismatched_keys"] == set()
    return model.eval()


def assert_transformers_gives_artengines_model(folder: Path, spec: str):
    ours = artengine.load_model(spec, "cpu")
    model = from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    layout = ours.layout

    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ours.lm.parameters())
    assert model.config.n_positions == layout.positions and model.config.vocab_size == layout.vocab_size
    rows = tokenizer(CAPTIONS, padding="max_length", truncation=True, return_tensors="pt").input_ids
    assert torch.equal(rows, ours.text(CAPTIONS))

    codes = torch.randint(0, layout.n_codes, (len(CAPTIONS), layout.rows, layout.cols), generator=torch.Generator().manual_seed(0))
    tokens = ours.lm.tokens(rows, codes)[:, :-1]
    with torch.no_grad():
        logits = model(tokens).logits
        hidden = ours.lm.gpt.transformer(input_ids=tokens).last_hidden_state
        T = layout.text_length
        assert torch.equal(logits, ours.lm.gpt(tokens).logits)
        assert torch.equal(logits[:, T:, layout.code_offset:layout.image_start], ours.lm.image_logits(hidden[:, T:]))
        assert torch.equal(logits[:, :T - 1, :layout.text_vocab], ours.lm.text_logits(hidden[:, :T - 1]))


def test_the_shipped_dalle_shapes_opens_in_transformers_with_artengines_logits(builtin_plugins):
    assert json.loads((SHIPPED / "config.json").read_text())["model_type"] == "gpt2"
    assert_transformers_gives_artengines_model(SHIPPED, "dalle:shapes")


def test_a_saved_checkpoint_opens_in_transformers_with_artengines_logits(dalle_host, tmp_path):
    folder = make_checkpoint(tmp_path / "model", seed=3)
    assert_transformers_gives_artengines_model(folder, f"dalle:{folder}")


@pytest.mark.parametrize("made", ["shipped", "saved"])
def test_the_tokenizer_config_names_a_class_every_allowed_transformers_reads(dalle_host, tmp_path, made):
    """transformers 5's save_pretrained names its own `TokenizersBackend`, which 4.x's
    AutoTokenizer cannot find; `PreTrainedTokenizerFast` is in both (5.x keeps it as an alias)."""
    folder = SHIPPED if made == "shipped" else make_checkpoint(tmp_path / "model")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and "backend" not in config
    assert type(AutoTokenizer.from_pretrained(folder)) is transformers.PreTrainedTokenizerFast


def test_a_trained_checkpoint_opens_in_transformers_with_artengines_logits(dalle_host, cli, tmp_path):
    result = cli("train", "dalle", "--data", write_pairs(tmp_path / "pairs"), "--out", "model", "--vqgan", "tinyvq:16",
                 "--layers", "1", "--width", "16", "--heads", "2", "--batch-size", "4", "--steps", "2",
                 "--sample-every", "0", "--weights-dtype", "float16")
    assert result.exit_code == 0, result.output
    assert_transformers_gives_artengines_model(tmp_path / "model", f"dalle:{tmp_path / 'model'}")


def test_the_shipped_folder_never_gives_transformers_a_stock_gpt2(builtin_plugins):
    """A config.json transformers cannot read as this GPT-2 would give GPT-2 small's 124M random
    parameters, with no error."""
    model = from_pretrained(SHIPPED)
    settings = json.loads((SHIPPED / "artengine_dalle.json").read_text())
    assert model.config.n_layer == 4 and model.config.n_embd == 256
    assert sum(p.numel() for p in model.parameters()) == settings["training"]["parameters"]


def test_a_folder_without_artengines_own_file_is_one_line(dalle_host, tmp_path):
    """A plain transformers GPT-2 folder is not a dalle checkpoint: the layout of text and image
    tokens and the VQGAN live only in artengine_dalle.json."""
    folder = make_checkpoint(tmp_path / "model")
    (folder / "artengine_dalle.json").unlink()
    with pytest.raises(artengine.UsageError, match="is not a dalle checkpoint: it has no artengine_dalle.json"):
        artengine.load_model(f"dalle:{folder}")


def test_a_config_json_asking_for_another_network_is_refused(dalle_host, tmp_path):
    folder = make_checkpoint(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    config["activation_function"] = "relu"  # transformers would build it; artengine's would differ
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(artengine.UsageError, match="activation_function is 'relu'"):
        artengine.load_model(f"dalle:{folder}")
