# The commands of the README: `make demo` (the main job), `make ui` (the web UI) and `make test`.
# Each creates .venv and installs the project into it when needed.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The torch build to install first; these releases lie on the project's machines' disks.
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: demo ui test install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e '.[ui,test]'
	touch $@

install: $(BIN)/.installed

# The main job: the three generators with the shipped shapes-world models, side by side on
# prompts/demo.txt (a grid.png and an index.html report in a new folder under outputs/).
demo: $(BIN)/.installed
	$(BIN)/artengine list models
	$(BIN)/artengine compare --config configs/shapes-compare.toml

# The web UI on http://127.0.0.1:7860/ (docs/ui.md); runs land in outputs/.
ui: $(BIN)/.installed
	$(BIN)/artengine ui

# The browser tests (the UI, the compare and search pages) drive the system's chromium; they fail
# rather than skip without it, so say how to get it before the suite starts.
test: $(BIN)/.installed
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "make test: the browser tests need chromium: sudo apt-get install chromium (Debian, Ubuntu)," >&2; \
	  echo "  or run the rest: $(BIN)/python -m pytest -m 'not slow'" >&2; exit 1; }
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) outputs
