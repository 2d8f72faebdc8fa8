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

.PHONY: run dev check fast-tests test lint typecheck unit eval deploy-check redis-installed postgres-installed lock bench bench-full bench-scale bench-grid bench-breakdown bench-store bench-llm-call bench-attribution bench-review bench-http wrk-installed container-check clean

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
# slow, e2e, reliability or postgres are left to make test).
check: $(BIN)/.dev
	$(MAKE) --no-print-directory -j3 lint typecheck fast-tests

# Python's bytecode cache stays on for the tests even where PYTHONDONTWRITEBYTECODE is set (as on
# this project's machines): without it each run compiles every module anew and pytest rewrites the
# asserts of every test file and plugin module again, seconds of CPU a run.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest

# Spread over the machine's cores (pytest-xdist); each worker imports the service once (~3 s of
# CPU), which two cores more than make up for. `make check FASTFLAGS=` runs them in one process.
FASTFLAGS ?= -n auto
fast-tests: $(BIN)/.dev
	HYPOTHESIS_PROFILE=check $(PYTEST) -q $(FASTFLAGS) -m "not slow and not e2e and not reliability and not postgres"

test: $(BIN)/.dev lint typecheck unit eval deploy-check

lint: $(BIN)/.dev
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: $(BIN)/.dev
	$(BIN)/mypy service newsbrief_dev

unit: $(BIN)/.dev redis-installed postgres-installed
	$(PYTEST) -q

# deploy/ against the Kubernetes and compose-spec schemas that ship inside the two checkers'
# wheels: no download at run time.
deploy-check: $(BIN)/.dev
	$(BIN)/kubernetes-validate --strict --quiet --kubernetes-version 1.33.0 deploy/k8s/*.yaml
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

# The shared-state tests run two services against a real redis-server (Debian's package).
redis-installed:
	scripts/install-redis

# The store's tests run against a real PostgreSQL server (Debian's package; tests/pg_server.py).
postgres-installed:
	scripts/install-postgres

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

bench: $(BIN)/.bench $(BENCH_ENV)/.ok wrk-installed postgres-installed bench-attribution bench-llm-call
	$(BIN)/python benchmarks/run.py --quick

# CPU per upstream call: newsbrief's LLM call against the SDK's typed create (no server).
bench-llm-call: $(BIN)/.dev
	$(BIN)/python benchmarks/llm_call.py

# The attribution checker's cost per 5,000-character article, beside grounding's (no server).
bench-attribution: $(BIN)/.dev
	$(BIN)/python benchmarks/attribution.py

# Reviewing an answer (links, grounding, attribution, numbers, response) per stage, for BEFORE's
# code and this checkout, side by side (no server). BEFORE given: a commit from 5766c98 on, where
# the review has these stages; not given: 5766c98.
bench-review: $(BIN)/.dev
	$(BIN)/python benchmarks/review.py $(if $(filter command line,$(origin BEFORE)),--before $(BEFORE))

bench-full: $(BIN)/.bench $(BENCH_ENV)/.ok wrk-installed postgres-installed
	$(BIN)/python benchmarks/run.py

# Where the CPU per request goes, stage by stage, for BEFORE's code and this checkout's.
BEFORE ?= 6a273d3
bench-breakdown: $(BIN)/.dev wrk-installed
	$(BIN)/python benchmarks/breakdown.py --before $(BEFORE)

# uvicorn's httptools protocol against newsbrief's limited one, side by side (ratios).
bench-http: $(BIN)/.dev wrk-installed
	$(BIN)/python benchmarks/http_protocol.py

# The store on/off rows alone, merged into docs/benchmarks/results.json and BENCHMARKS.md.
bench-store: $(BIN)/.bench $(BENCH_ENV)/.ok wrk-installed postgres-installed
	$(BIN)/python benchmarks/run.py --store-only

# Everything bench-full measures but the hot-path, workers and store rows (each has a target of its
# own above), merged into docs/benchmarks/results.json and BENCHMARKS.md.
bench-grid: $(BIN)/.bench $(BENCH_ENV)/.ok wrk-installed
	$(BIN)/python benchmarks/run.py --grid-only

# The hot-path and workers rows alone, merged into docs/benchmarks/results.json and BENCHMARKS.md.
bench-scale: $(BIN)/.bench $(BENCH_ENV)/.ok wrk-installed
	$(BIN)/python benchmarks/run.py --scale-only

container-check:
	scripts/container-check

clean:
	rm -rf $(VENV) $(BENCH_ENV) build .mypy_cache .pytest_cache .ruff_cache
