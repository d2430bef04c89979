# Two commands from a fresh machine: `make demo` (the main job) and `make test`.
# Each creates .venv on first use, with torch pinned by constraints.txt.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
LAB_ARGS ?=
# What `make test` needs before the tests run (tests/test_readme.py runs the recipe with none).
BROWSER_DEPS ?= browser-deps
# `make test` fails if the tests changed the working tree (TREE_CHECK=0 skips the check).
TREE_CHECK ?= 1
# What the check compares: git status, and a checksum of every changed or untracked file (so a test that
# rewrites a file that was already modified is caught too). --no-optional-locks: git only reads.
GIT := git --no-optional-locks
TREE_STATE := { $(GIT) status --porcelain --untracked-files=all; \
	{ $(GIT) diff --name-only -z HEAD 2>/dev/null; $(GIT) ls-files -o --exclude-standard -z; } | xargs -0 -r cksum 2>/dev/null; }

.PHONY: demo test lab bench setup browser-deps clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/hpo-kit demo

# The tutorials in JupyterLab (installed by setup). Jupyter refuses to run as root without --allow-root.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

# Debian's chromium for the browser test (root only; the test says why it skips otherwise).
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi

# The tests, the notebooks (nbval) and the browser test; then a check that they left the tree as it was
# (journals, locks and pickles go to temporary folders or the ignored hpo-runs/).
test: $(STAMP) $(BROWSER_DEPS)
	@echo "make test: about 19 minutes on 2 cores at low load, 28 at load 8-14 (unit and cluster tests, the README's code blocks, 6 notebooks, the browser test)"
	@before=$$(mktemp); after=$$(mktemp); \
	if [ "$(TREE_CHECK)" = 1 ] && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then $(TREE_STATE) >"$$before"; \
	else rm -f "$$before"; fi; \
	$(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	if [ -f "$$before" ]; then $(TREE_STATE) >"$$after"; \
		if ! cmp -s "$$before" "$$after"; then \
			echo "make test: the tests changed the working tree (< before, > after; status lines, then checksums):"; \
			diff "$$before" "$$after" | grep '^[<>]'; [ $$rc -ne 0 ] || rc=1; fi; fi; \
	rm -f "$$before" "$$after"; exit $$rc

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py --quick

clean:
	rm -rf $(VENV) hpo-runs
