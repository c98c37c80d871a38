# Agency OS sales infrastructure. `make dev` runs the local stack, `make test` runs every test.
# Both install what they need on a fresh machine.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
DYNAMODB_PORT ?= 8000
TABLE_NAME ?= agency-sales

# The local DynamoDB server and the SDK settings that reach it. moto keeps data per region and
# account, so everything local uses one region and the test account.
LOCAL_AWS := AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(DYNAMODB_PORT) \
	AWS_REGION=ap-southeast-2 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
	DYNAMODB_PORT=$(DYNAMODB_PORT)

export CARGO_TERM_COLOR ?= never

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(VENV)/.installed: infra/local/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r infra/local/requirements.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## the Python virtualenv for the local DynamoDB server

.PHONY: db-start
db-start: venv ## start the local DynamoDB server (if it is not already answering)
	$(LOCAL_AWS) infra/local/dynamodb.sh start

.PHONY: db-stop
db-stop: ## stop the local DynamoDB server that db-start started
	$(LOCAL_AWS) infra/local/dynamodb.sh stop

.PHONY: db-table
db-table: db-start ## create the sales table on the local server
	$(LOCAL_AWS) TABLE_NAME=$(TABLE_NAME) cargo run --quiet -p sales --bin salesctl -- create-table

.PHONY: test
test: venv ## run every test (starts the local DynamoDB server if needed, stops what it started)
	cargo build --workspace --all-targets
	$(LOCAL_AWS) infra/local/dynamodb.sh run -- cargo test --workspace --no-fail-fast

.PHONY: lint
lint: ## formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: dev
dev: db-table ## run the local stack (the Lambda functions arrive with the billing and booking issues)
	@echo "Local DynamoDB: http://127.0.0.1:$(DYNAMODB_PORT), table $(TABLE_NAME)."
	@echo "The Lambda functions are not built yet; 'make db-stop' stops the server."

.PHONY: clean
clean: db-stop ## stop local servers and remove build output and the virtualenv
	cargo clean
	rm -rf $(VENV) .local
