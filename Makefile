# One entry point per job. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := out/demo
DEMO_SECONDS ?= 150
# pytest-xdist workers for `make test`: auto = the CPUs this machine gives us (at most 8;
# tests/parallel.py); PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto

ASSETS := src/liveeval/dashboard/static/uplot.version

.PHONY: demo report-demo assets test lint typecheck bench bench-server bench-predict bench-drift bench-alerts clean

$(STAMP): pyproject.toml $(ASSETS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The dashboard's charting library (uPlot) from the npm registry: `npm ci` on
# package-lock.json, copied into the package (scripts/build_assets.py; git ignores it).
$(ASSETS): package.json package-lock.json scripts/build_assets.py
	$(PYTHON) scripts/build_assets.py
	touch $(ASSETS)

assets: $(ASSETS)

# The live demo: a server with two models, traffic, delayed labels, a new version and a
# drift; the dashboard at the printed URL shows it. Ends by itself with a summary.
demo: $(STAMP)
	$(BIN)/liveeval demo --duration $(DEMO_SECONDS) --out out/live-demo

# The batch report of an example log (HTML + JSON) and `liveeval check`.
report-demo: $(STAMP)
	$(BIN)/liveeval demo-data $(DEMO)
	$(BIN)/liveeval report $(DEMO)/predictions.parquet --label y_true --score y_score \
		--time ts --version model_version --segment segment --status status \
		--train $(DEMO)/train.parquet --validation $(DEMO)/validation.parquet \
		--profile fraud --min-recall 0.9 --cost-fp 1 --cost-fn 50 \
		--html $(DEMO)/report.html --json $(DEMO)/report.json
	$(BIN)/liveeval check $(DEMO)/predictions.parquet --label y_true --score y_score \
		--status status --profile fraud; status=$$?; \
		echo "liveeval check exited with $$status (0 pass, 1 fail, 3 inconclusive)"; \
		test $$status -eq 0 -o $$status -eq 1 -o $$status -eq 3
	@echo
	@echo "HTML report: $(CURDIR)/$(DEMO)/report.html"
	@echo "JSON report: $(CURDIR)/$(DEMO)/report.json"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# --dist loadgroup keeps tests that share a module-scoped fixture on one worker
# (docs/testing.md says what a test must do to run in parallel).
test: $(ASSETS) lint typecheck
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Needs Debian's wrk; installs BentoML and MLServer into bench/data/venv-* (not .venv).
bench-server: $(STAMP)
	BENCH_COMPETITORS=1 $(BIN)/python bench/server/run.py

# The predict part alone: 5 alternating rounds against bare FastAPI, the ratio's spread,
# and the server's p50/p99 (stored, Prometheus) against wrk's. Run on a quiet machine.
bench-predict: $(STAMP)
	BENCH_PARTS=predict $(BIN)/python bench/server/run.py

# Installs Evidently, NannyML and alibi-detect into bench/data/venv-* (not .venv).
bench-drift: $(STAMP)
	test -x bench/data/venv-evidently/bin/python || (python3 -m venv bench/data/venv-evidently && \
		bench/data/venv-evidently/bin/pip install --quiet 'evidently==0.7.*' 'pandas<3' pyarrow)
	test -x bench/data/venv-nannyml/bin/python || (python3 -m venv bench/data/venv-nannyml && \
		bench/data/venv-nannyml/bin/pip install --quiet 'nannyml==0.13.*' statsmodels pyarrow)
	test -x bench/data/venv-alibi/bin/python || (python3 -m venv bench/data/venv-alibi && \
		bench/data/venv-alibi/bin/pip install --quiet 'alibi-detect==0.13.*' 'pyarrow<16')
	$(BIN)/python bench/drift.py --rows 1000000 --rows 10000000 \
		--evidently bench/data/venv-evidently/bin/python \
		--nannyml bench/data/venv-nannyml/bin/python --alibi bench/data/venv-alibi/bin/python

# Drop detection: false alarms and delay, liveeval beside river's ADWIN and Page-Hinkley
# (river only in its own venv).
bench-alerts: $(STAMP)
	test -x bench/data/venv-river/bin/python || (python3 -m venv bench/data/venv-river && \
		bench/data/venv-river/bin/pip install --quiet 'river==0.26.*')
	$(BIN)/python bench/alerts.py --seeds 50 --river bench/data/venv-river/bin/python

clean:
	rm -rf $(VENV) out node_modules src/liveeval/dashboard/static/uplot.* .pytest_cache .mypy_cache .ruff_cache
