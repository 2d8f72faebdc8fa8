# The two set-up commands in README (make run, make test) work on a fresh machine:
# each builds .venv from the hash-pinned lock files first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# make run HOST=… PORT=… overrides; otherwise the service's settings decide (NEWSBRIEF_HOST and
# NEWSBRIEF_PORT, default 127.0.0.1:8000).
HOST ?=
PORT ?=
CODE := service newsbrief_dev tests benchmarks

.PHONY: run dev check fast-tests test lint typecheck unit eval lock bench bench-full bench-attribution wrk-installed container-check clean

$(BIN)/.runtime: requirements/runtime.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/runtime.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(BIN)/.dev: requirements/dev.lock $(BIN)/.runtime
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.lock
	touch $@

run: $(BIN)/.runtime
	$(BIN)/newsbrief serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# The development install: test, lint and eval tools (newsbrief_dev/ runs from this checkout).
dev: $(BIN)/.dev

# The developer loop, in seconds: lint, types and the fast tests side by side (the tests marked
# slow, e2e or reliability are left to make test).
check: $(BIN)/.dev
	$(MAKE) --no-print-directory -j3 lint typecheck fast-tests

fast-tests: $(BIN)/.dev
	HYPOTHESIS_PROFILE=check $(BIN)/pytest -q -m "not slow and not e2e and not reliability"

test: $(BIN)/.dev lint typecheck unit eval

lint: $(BIN)/.dev
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: $(BIN)/.dev
	$(BIN)/mypy service newsbrief_dev

unit: $(BIN)/.dev
	$(BIN)/pytest -q

# The offline eval and its gate: every prompt version on every case, from cassettes.
eval: $(BIN)/.dev
	$(BIN)/newsbrief eval --out build/eval

# Re-pin after editing dependencies in pyproject.toml (needs the registry).
lock: $(BIN)/.dev
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes pyproject.toml -o requirements/runtime.lock
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes --extra dev pyproject.toml -o requirements/dev.lock
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes benchmarks/requirements-instructor.in -o requirements/bench-instructor.lock
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes benchmarks/requirements-plot.in -c requirements/dev.lock -o requirements/bench-plot.lock

# Benchmarks (not tests): newsbrief against a bare client and instructor on the fake LLM.
BENCH_ENV := .venv-instructor
$(BENCH_ENV)/.ok: requirements/bench-instructor.lock
	$(PY) -m venv $(BENCH_ENV)
	$(BENCH_ENV)/bin/pip install --quiet --require-hashes -r requirements/bench-instructor.lock
	touch $@

$(BIN)/.bench: requirements/bench-plot.lock $(BIN)/.dev
	$(BIN)/pip install --quiet --require-hashes -r requirements/bench-plot.lock
	touch $@

wrk-installed:
	@command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)

bench: $(BIN)/.bench $(BENCH_ENV)/.ok wrk-installed bench-attribution
	$(BIN)/python benchmarks/run.py --quick

# The attribution checker's cost per 5,000-character article, beside grounding's (no server).
bench-attribution: $(BIN)/.dev
	$(BIN)/python benchmarks/attribution.py

bench-full: $(BIN)/.bench $(BENCH_ENV)/.ok wrk-installed
	$(BIN)/python benchmarks/run.py

container-check:
	scripts/container-check

clean:
	rm -rf $(VENV) $(BENCH_ENV) build .mypy_cache .pytest_cache .ruff_cache
