# LoRA Plane. Set-up on a fresh machine: `make demo`, `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0

.PHONY: install demo test test-unit test-integration test-template lint build clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/dev.txt requirements/lock.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -r requirements/dev.txt -c requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: install
	$(BIN)/loraplane demo

test: install
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit

test-integration: install
	$(BIN)/pytest tests/integration

test-template: install
	$(BIN)/pytest tests/template

lint: install
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint

build: install
	$(BIN)/sam build

clean:
	rm -rf $(VENV) .aws-sam .loraplane .pytest_cache
