# One entry point per job. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := out/demo
DEMO_SECONDS ?= 150

.PHONY: demo report-demo test lint typecheck bench bench-server clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

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

test: lint typecheck
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Needs Debian's wrk; installs BentoML and MLServer into bench/data/venv-* (not .venv).
bench-server: $(STAMP)
	BENCH_COMPETITORS=1 $(BIN)/python bench/server/run.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
