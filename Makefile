# filescan developer entry points. `make help` lists them.
# Everything installs itself on first use: virtualenvs under the repo, Debian packages via apt-get.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime is python3.13; the project venv and `sam build` use the same interpreter.
# On these machines it lives under pyenv; elsewhere set PYTHON313=/path/to/python3.13.
PYTHON313 ?= $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { command -v $$p; break; }; done)
# SAM CLI pins boto3 exactly, so it and the other template tools live in their own venvs.
TOOLS_PYTHON ?= python3

VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
# Debian packages: libmagic (file type), yara (benchmark reference), clamav (optional engine, tested).
APT_PACKAGES := libmagic1 yara clamav

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

.PHONY: system-deps
system-deps: .make/apt.stamp ## install the Debian packages the scanner and its tests use
.make/apt.stamp:
	@mkdir -p .make
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON313)" || { echo "python3.13 not found: install it (e.g. pyenv install 3.13) or set PYTHON313=" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

$(SAM_VENV)/.installed: requirements-tools-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(TOOLS_PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q -r requirements-tools-sam.txt
	@touch $@

$(CHECKOV_VENV)/.installed: requirements-tools-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(TOOLS_PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-tools-checkov.txt
	@touch $@

.PHONY: install
install: system-deps $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## create all virtualenvs

.PHONY: lint
lint: $(VENV)/.installed ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m filescan_shared.report.schema --check
	$(VENV)/bin/python -m deploy.engines --check

.PHONY: report-schema
report-schema: $(VENV)/.installed ## regenerate report/schema.json from the report model (filescan_shared.report.model)
	$(VENV)/bin/python -m filescan_shared.report.schema

.PHONY: engines
engines: $(VENV)/.installed ## validate engines/catalogue.yaml; regenerate catalogue.json and template.yaml's engine section (docs/engines.md)
	$(VENV)/bin/python -m deploy.engines

.PHONY: check-template
check-template: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## sam validate --lint, cfn-lint, sam build (+ import check), checkov
	$(SAM) validate --lint
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(MAKE) sam-build
	$(PY) packaging/check_artifacts.py
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

.PHONY: sam-build
sam-build: $(SAM_VENV)/.installed ## sam build: the layer and functions as deployed (packaging/Makefile)
	@test -n "$(PYTHON313)" || { echo "python3.13 not found for sam build" >&2; exit 1; }
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM) build --parallel

.PHONY: pytest
pytest: system-deps $(VENV)/.installed ## the pytest suite (unit, integration, e2e)
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: test
test: lint check-template pytest test-docker ## everything CI runs: lint, types, template checks, all tests, the Docker-backed checks

# ---- Docker-backed targets ------------------------------------------------------------------------
# Each runs under scripts/docker-engine: the engine that answers, or a project dockerd started for
# the target and stopped when it ends. No engine and no means to start one: one line, and the target
# is skipped (exit 0), unless FILESCAN_REQUIRE_DOCKER=1 (CI), which fails it instead.
SCANNER_IMAGE ?= filescan-scanner:local
WITH_DOCKER := scripts/docker-engine run
SUBMAKE := $(MAKE) --no-print-directory

.PHONY: image
image: ## build the scanner image (scanner_job/Dockerfile) and run it as the job definition does
	$(WITH_DOCKER) $(SUBMAKE) docker-image docker-image-check

.PHONY: demo-docker
demo-docker: ## `make demo` with every Batch job run in the scanner image
	$(WITH_DOCKER) $(SUBMAKE) docker-image docker-demo

.PHONY: test-docker
test-docker: ## the Docker-backed checks: images, demo and e2e subset with jobs in containers, sam local
	$(WITH_DOCKER) $(SUBMAKE) docker-image docker-engine-images docker-image-check docker-engine-images-check docker-demo docker-e2e docker-sam-local

.PHONY: engine-images
engine-images: ## build the engine images (engines/*/Dockerfile, ENGINE_BUILD_ARGS=--build-arg FRESHCLAM=true) and test them
	$(WITH_DOCKER) $(SUBMAKE) docker-engine-images docker-engine-images-check

.PHONY: sam-local
sam-local: ## sam build, then sam local invoke of every function with its events/ files, and start-api
	$(WITH_DOCKER) $(SUBMAKE) sam-build docker-sam-local

# The docker-* targets expect a live engine (run them through the targets above).
.PHONY: docker-image docker-image-check docker-demo docker-e2e docker-sam-local docker-engine-images docker-engine-images-check
docker-image:
	scripts/base-images scanner
	docker build -q --force-rm --network host -f scanner_job/Dockerfile -t $(SCANNER_IMAGE) .
	@docker image inspect -f '$(SCANNER_IMAGE): {{.Size}} bytes' $(SCANNER_IMAGE)

# Each engine directory is its own build context; the local stack runs filescan-engine-<name>:local.
ENGINE_IMAGE_DIRS := $(patsubst %/Dockerfile,%,$(wildcard engines/*/Dockerfile))
ENGINE_BUILD_ARGS ?=
docker-engine-images:
	scripts/base-images scanner
	@set -e; for dir in $(ENGINE_IMAGE_DIRS); do tag=filescan-engine-$${dir#engines/}:local; \
	  docker build -q --force-rm --network host $(ENGINE_BUILD_ARGS) -t $$tag $$dir >/dev/null; \
	  docker image inspect -f "$$tag: {{.Size}} bytes" $$tag; done

docker-engine-images-check: system-deps $(VENV)/.installed
	FILESCAN_DOCKER_TESTS=1 $(PY) -m pytest tests/docker/test_engine_images.py -q -p no:cacheprovider

docker-image-check: system-deps $(VENV)/.installed
	FILESCAN_DOCKER_TESTS=1 $(PY) -m pytest tests/docker -q -p no:cacheprovider --ignore=tests/docker/test_engine_images.py

docker-demo: system-deps $(VENV)/.installed
	$(PY) -m filescan_local demo --docker

# The e2e suite with every Batch job in a container; the 200-file burst is left to subprocess mode
# (200 container starts take minutes on a 2-core machine; it tests the pipeline, not the runner).
DOCKER_E2E_ARGS ?= -k "not burst"
docker-e2e: system-deps $(VENV)/.installed
	FILESCAN_LOCAL_DOCKER=1 $(PY) -m pytest tests/e2e -q -p no:cacheprovider $(DOCKER_E2E_ARGS)

.PHONY: demo
demo: system-deps $(VENV)/.installed ## the main command: the whole pipeline on 127.0.0.1, sample scans, results from the API (ENGINES=filescan,clamav,yara-cli)
	$(PY) -m filescan_local demo $(if $(ENGINES),--engines $(ENGINES))

.PHONY: bench-pipeline
bench-pipeline: system-deps $(VENV)/.installed ## local pipeline throughput: N uploads -> all terminal (N=200)
	$(PY) -m bench.bench_pipeline --files $(or $(N),200) $(BENCH_ARGS)

.PHONY: bench-burst
bench-burst: system-deps $(VENV)/.installed ## small-file burst bar: N small files at once through the local fast path: terminal, lost, jobs, p50/p99 (N=1000)
	$(PY) -m bench.bench_burst --files $(or $(N),1000) $(BENCH_ARGS)

.PHONY: bench-cold-start
bench-cold-start: $(VENV)/.installed sam-build ## each built handler's cold import, fresh process each, vs bare boto3
	$(PY) bench/cold_start.py $(BENCH_ARGS)

.PHONY: deploy
deploy: $(VENV)/.installed $(SAM_VENV)/.installed ## deploy to AWS from zero: sam build, stack-owned ECR repo, linux/amd64 image pushed + pinned by digest (CONFIG_ENV=prod, DRY_RUN=1, BUILD_ARGS=WITH_CLAMAV=true)
	@test -n "$(PYTHON313)" || { echo "python3.13 not found for sam build" >&2; exit 1; }
	PATH="$(dir $(PYTHON313)):$$PATH" $(PY) -m deploy.filescan_deploy --config-env $(or $(CONFIG_ENV),default) \
		--sam $(abspath $(SAM)) $(if $(DRY_RUN),--dry-run) $(foreach arg,$(BUILD_ARGS),--build-arg $(arg))

.PHONY: clean
clean: ## remove build output (keeps the virtualenvs)
	rm -rf .aws-sam build .pytest_cache .mypy_cache .ruff_cache

.PHONY: distclean
distclean: clean ## remove build output and all virtualenvs
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .make

.PHONY: bench-scanner
bench-scanner: system-deps $(VENV)/.installed ## benchmark filescan-scan against the yara command (64 MiB, 1 GiB, 2 GiB)
	$(PY) bench/bench_scanner.py

# Uses the artefacts in .aws-sam/build (make test builds them in check-template; sam-local rebuilds).
docker-sam-local: system-deps $(VENV)/.installed $(SAM_VENV)/.installed
	@test -f .aws-sam/build/template.yaml || $(SUBMAKE) sam-build
	scripts/base-images lambda
	$(PY) -m filescan_local.sam_local --sam $(SAM)

.PHONY: model
model: $(VENV)/.installed ## latency and cost model: an upload mix through each small-file strategy vs GuardDuty (MODEL_ARGS=--help)
	$(PY) -m bench.model $(MODEL_ARGS)

.PHONY: rightsizing
rightsizing: $(VENV)/.installed ## per size class, requested vs used vCPU/memory/disk from scan records + reports, and proposals (TABLE=, REPORTS_BUCKET=)
	$(PY) -m bench.model.rightsizing --table $(TABLE) --reports-bucket $(REPORTS_BUCKET) $(RIGHTSIZING_ARGS)

.PHONY: bench-scanner-huge
bench-scanner-huge: system-deps $(VENV)/.installed ## a 3 GiB object scanned in S3 mode, read in place (moto): peak RSS, MiB/s vs download + sha256sum
	$(PY) bench/bench_scanner_huge.py $(BENCH_ARGS)

.PHONY: bench-scanner-s3
bench-scanner-s3: system-deps $(VENV)/.installed ## filescan-scan in S3 mode (moto server) vs local mode: MiB/s, peak RSS (64 MiB, 1 GiB, 2 GiB)
	$(PY) bench/bench_scanner_s3.py $(BENCH_ARGS)
