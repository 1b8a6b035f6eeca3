# The two commands of the README: `make demo` (the main job) and `make test`.
# Each creates .venv and installs the project into it when needed.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The torch build to install first; these releases lie on the project's machines' disks.
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: demo test install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

install: $(BIN)/.installed

# The main job: both generators with the shipped shapes-world models, side by side on
# prompts/demo.txt (a grid.png and an index.html report in a new folder under outputs/).
demo: $(BIN)/.installed
	$(BIN)/artengine list models
	$(BIN)/artengine compare --config configs/shapes-compare.toml

test: $(BIN)/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) outputs
