# PackDesk: `make run` starts the product, `make test` runs the default test suite.
# Both call `make install`, which is idempotent: it re-installs only when pyproject.toml changes.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned, so nothing else pulls a multi-gigabyte CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	# Byte-compile the project once: where PYTHONDONTWRITEBYTECODE is set (containers often set
	# it) every start would compile its sources again; files already up to date are skipped.
	$(BIN)/python -m compileall -q core api plugins knowledge_packs
	$(BIN)/packdesk run

test: install
	$(BIN)/lint-imports
	$(BIN)/ruff check core plugins knowledge_packs api tests bench
	$(BIN)/mypy core api plugins knowledge_packs
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check core plugins knowledge_packs api tests bench
	$(BIN)/mypy core api plugins knowledge_packs

bench: install
	$(BIN)/python bench/retrieval.py
	$(BIN)/packdesk prepare  # idempotent: the load benchmark serves the prepared packs and model
	$(BIN)/python bench/onnx_backend.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache
