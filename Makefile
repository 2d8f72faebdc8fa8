# The two set-up commands in README (make run, make test) work on a fresh machine:
# each builds .venv from the hash-pinned lock files first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck unit eval deploy-check redis-installed lock bench bench-full bench-attribution bench-http wrk-installed container-check clean

$(BIN)/.runtime: requirements/runtime.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/runtime.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(BIN)/.dev: requirements/dev.lock $(BIN)/.runtime
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.lock
	touch $@

run: $(BIN)/.runtime
	$(BIN)/newsbrief serve --host $(HOST) --port $(PORT)

test: $(BIN)/.dev lint typecheck unit eval deploy-check

lint: $(BIN)/.dev
	$(BIN)/ruff check service tests benchmarks
	$(BIN)/ruff format --check service tests benchmarks

typecheck: $(BIN)/.dev
	$(BIN)/mypy service

unit: $(BIN)/.dev redis-installed
	$(BIN)/pytest -q

# deploy/ against the Kubernetes and compose-spec schemas that ship inside the two checkers'
# wheels: no download at run time.
deploy-check: $(BIN)/.dev
	$(BIN)/kubernetes-validate --strict --quiet --kubernetes-version 1.33.0 deploy/k8s/*.yaml
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

# The shared-state tests run two services against a real redis-server (Debian's package).
redis-installed:
	scripts/install-redis

# The offline eval and its gate: every prompt version on every case, from cassettes.
eval: $(BIN)/.runtime
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

# uvicorn's httptools protocol against newsbrief's limited one, side by side (ratios).
bench-http: $(BIN)/.dev wrk-installed
	$(BIN)/python benchmarks/http_protocol.py

container-check:
	scripts/container-check

clean:
	rm -rf $(VENV) $(BENCH_ENV) build .mypy_cache .pytest_cache .ruff_cache
