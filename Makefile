# Agency OS sales infrastructure. `make dev` runs the local stack, `make test` runs every test.
# Both install what they need on a fresh machine.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
DYNAMODB_PORT ?= 8000
TABLE_NAME ?= agency-sales

# cargo-lambda (PyPI, with zig for arm64 cross-builds) lives in its own virtualenv.
CARGO_LAMBDA_VENV := .local/cargo-lambda
WITH_CARGO_LAMBDA := PATH="$(CURDIR)/$(CARGO_LAMBDA_VENV)/bin:$$PATH"
ARM64_TARGET := aarch64-unknown-linux-gnu
# The Lambda binaries: every bin target under functions/ (evaluated only where used).
FUNCTIONS = $(shell $(PYTHON) infra/local/functions.py)

# The local DynamoDB server and the SDK settings that reach it. moto keeps data per region and
# account, so everything local uses one region and the test account.
LOCAL_AWS := AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(DYNAMODB_PORT) \
	AWS_REGION=ap-southeast-2 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
	DYNAMODB_PORT=$(DYNAMODB_PORT)

export CARGO_TERM_COLOR ?= never

# Platforms: make dev, make test and the rest support Linux (x86_64 or arm64) with bash >= 4, GNU
# coreutils and procps (README.md, "Platforms"). Anywhere else, stop here and say what is missing.
ifneq ($(SKIP_PLATFORM_CHECK),1)
PLATFORM_PROBLEMS := $(shell bash infra/local/platform.sh 2>&1)
ifneq ($(strip $(PLATFORM_PROBLEMS)),)
$(error unsupported platform: $(PLATFORM_PROBLEMS). This Makefile supports Linux (x86_64 or arm64) with bash >= 4, GNU coreutils and procps: see README.md, "Platforms" (SKIP_PLATFORM_CHECK=1 tries anyway))
endif
endif

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(VENV)/.installed: infra/local/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r infra/local/requirements.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## the Python virtualenv for the local DynamoDB server

$(CARGO_LAMBDA_VENV)/.installed: infra/local/cargo-lambda.txt
	$(PYTHON) -m venv $(CARGO_LAMBDA_VENV)
	$(CARGO_LAMBDA_VENV)/bin/pip install --quiet --upgrade pip
	$(CARGO_LAMBDA_VENV)/bin/pip install --quiet -r infra/local/cargo-lambda.txt
	touch $@

.PHONY: cargo-lambda
cargo-lambda: $(CARGO_LAMBDA_VENV)/.installed ## cargo-lambda and zig from PyPI, in .local/cargo-lambda

.PHONY: arm64-target
arm64-target: ## the Rust target of Lambda's arm64 machines (for make build)
	@rustup target list --installed | grep -qx $(ARM64_TARGET) || rustup target add $(ARM64_TARGET)

.PHONY: db-start
db-start: venv ## start the local DynamoDB server (if it is not already answering)
	$(LOCAL_AWS) infra/local/dynamodb.sh start

.PHONY: db-stop
db-stop: ## stop the local DynamoDB server that db-start started
	$(LOCAL_AWS) infra/local/dynamodb.sh stop

.PHONY: db-table
db-table: db-start ## create the sales table on the local server
	$(LOCAL_AWS) TABLE_NAME=$(TABLE_NAME) cargo run --quiet --bin salesctl -- create-table

.PHONY: test
test: venv ## run every test (starts the local DynamoDB server if needed, stops what it started), then the IAM report
	cargo build --workspace --all-targets
	$(VENV)/bin/python infra/local/check_docs.py
	$(VENV)/bin/python -m unittest discover -s infra/local -p 'test_*.py'
	$(LOCAL_AWS) infra/local/dynamodb.sh run -- bash -c \
		'cargo test --workspace --no-fail-fast && $(VENV)/bin/python infra/local/iam_report.py'

.PHONY: e2e
e2e: venv cargo-lambda ## the local stack, then the browser test and the end-to-end test over HTTP against it
	cargo build --workspace --all-targets
	infra/local/e2e.sh

.PHONY: fuzz
fuzz: venv ## the handlers fuzzed at length: FUZZ_N (10000) signed, mutated deliveries per provider; status counts, local DynamoDB peak memory
	cargo build -p sales-tests --tests
	$(LOCAL_AWS) infra/local/dynamodb.sh run -- env FUZZ_N=$${FUZZ_N:-10000} \
		cargo test -p sales-tests --test fuzz -- --nocapture

.PHONY: bench
bench: venv ## cold start, size, memory, latency and requests per call of every function (bench/RESULTS.md)
	bash bench/run.sh $(ARGS)

.PHONY: lint
lint: ## formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: dev
dev: venv cargo-lambda ## the local stack until Ctrl-C: DynamoDB, Stripe stand-in, every function (infra/local/README.md)
	@DYNAMODB_PORT=$(DYNAMODB_PORT) TABLE_NAME=$(TABLE_NAME) infra/local/dev.sh

.PHONY: build
build: cargo-lambda arm64-target ## arm64 release zips of every function: target/lambda/<name>/bootstrap.zip
	@start=$$(date +%s); \
	$(WITH_CARGO_LAMBDA) cargo lambda build --release --arm64 --output-format zip \
		$(addprefix --bin ,$(FUNCTIONS)); \
	echo "built in $$(( $$(date +%s) - start )) s:"; \
	for f in $(FUNCTIONS); do \
		zip="$${CARGO_TARGET_DIR:-target}/lambda/$$f/bootstrap.zip"; \
		printf '  %-18s %10s bytes zipped, %10s unzipped  %s\n' $$f "$$(stat -c %s "$$zip")" \
			"$$($(PYTHON) -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$$zip")" \
			"$$zip"; \
	done

# `make deploy`: sam build, then sam deploy (guided the first time, from samconfig.toml after),
# then what to do next (infra/deploy.py, which decides without AWS; docs/deploying.md).
SAM ?= sam
SAM_CONFIG := $(CURDIR)/samconfig.toml
DEPLOY_OUTPUTS := .local/deploy/outputs.json

.PHONY: deploy
deploy: ## build and deploy the stack with SAM (first time guided, then from samconfig.toml), then print what to do next
	@command -v $(SAM) >/dev/null 2>&1 || { echo "make deploy: the AWS SAM CLI ($(SAM)) is not on PATH; nothing was built or deployed. Install it (python3 -m venv .local/tools && .local/tools/bin/pip install aws-sam-cli, then PATH=\"\$$PWD/.local/tools/bin:\$$PATH\"; or AWS's installer) and give it credentials for the account: docs/deploying.md" >&2; exit 1; }
	@$(MAKE) --no-print-directory cargo-lambda arm64-target
	$(WITH_CARGO_LAMBDA) SAM_CLI_TELEMETRY=0 $(SAM) build --config-file $(SAM_CONFIG) --template-file infra/template.yaml
	@if [[ $$($(PYTHON) infra/deploy.py mode --config $(SAM_CONFIG)) == guided ]]; then \
		echo "[deploy] first deploy (or GUIDED=1): sam deploy --guided asks for the parameters and saves them in samconfig.toml"; \
		echo "[deploy] JwtIssuer / JwtAudience: your app's OpenID issuer and client id (samconfig.toml's comments, docs/deploying.md)"; \
		SAM_CLI_TELEMETRY=0 $(SAM) deploy --guided --config-file $(SAM_CONFIG); \
	else \
		SAM_CLI_TELEMETRY=0 $(SAM) deploy --config-file $(SAM_CONFIG); \
	fi
	@mkdir -p $(dir $(DEPLOY_OUTPUTS)); read -r stack region <<<"$$($(PYTHON) infra/deploy.py stack --config $(SAM_CONFIG))"; \
	SAM_CLI_TELEMETRY=0 $(SAM) list stack-outputs --stack-name "$$stack" --region "$$region" --output json >$(DEPLOY_OUTPUTS) \
		|| rm -f $(DEPLOY_OUTPUTS)
	@$(PYTHON) infra/deploy.py next-steps --config $(SAM_CONFIG) --outputs $(DEPLOY_OUTPUTS)

# `make publish-widget`: the widget's files to the stack's private bucket under
# widget/$(WIDGET_VERSION)/, served by its CloudFront distribution (the WidgetUrl output;
# docs/widget.md). STACK_NAME / REGION default to samconfig.toml's.
WIDGET_VERSION ?= v1

.PHONY: publish-widget
publish-widget: ## upload web/agency-os-widget.{js,css} to the stack under widget/v1/ (WIDGET_VERSION), print the widget's URL
	@command -v aws >/dev/null 2>&1 || { echo "make publish-widget: the AWS CLI (aws) is not on PATH; nothing was uploaded. Install it (AWS's installer, or pip install awscli) and give it credentials for the stack's account: docs/widget.md" >&2; exit 1; }
	@read -r stack region <<<"$$($(PYTHON) infra/deploy.py stack --config $(SAM_CONFIG) 2>/dev/null || echo agency-sales ap-southeast-2)"; \
	stack="$${STACK_NAME:-$$stack}"; region="$${REGION:-$$region}"; \
	output() { aws cloudformation describe-stacks --stack-name "$$stack" --region "$$region" \
		--query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue" --output text; }; \
	bucket=$$(output WidgetBucketName) && distribution=$$(output WidgetDistributionId) && url=$$(output WidgetUrl) \
		|| { echo "make publish-widget: could not read the outputs of stack $$stack in $$region (AWS credentials? STACK_NAME / REGION?)" >&2; exit 1; }; \
	if [[ -z $$bucket || $$bucket == None ]]; then \
		echo "make publish-widget: stack $$stack ($$region) has no WidgetBucketName output: deploy it first (make deploy), or set STACK_NAME / REGION" >&2; exit 1; \
	fi; \
	for f in agency-os-widget.js agency-os-widget.css; do \
		case $$f in *.js) type="text/javascript; charset=utf-8" ;; *) type="text/css; charset=utf-8" ;; esac; \
		aws s3 cp "web/$$f" "s3://$$bucket/widget/$(WIDGET_VERSION)/$$f" --region "$$region" \
			--content-type "$$type" --cache-control "public, max-age=3600" --only-show-errors; \
	done; \
	aws cloudfront create-invalidation --distribution-id "$$distribution" \
		--paths "/widget/$(WIDGET_VERSION)/*" --query Invalidation.Id --output text >/dev/null; \
	echo "[widget] published web/agency-os-widget.{js,css} to s3://$$bucket/widget/$(WIDGET_VERSION)/ (CloudFront invalidated)"; \
	echo "[widget] $${url%/widget/*}/widget/$(WIDGET_VERSION)/agency-os-widget.js   (embed snippet: docs/widget.md)"

# `make publish-board`: the sales team's board (web/board/) to the same private bucket under board/,
# with its config.json written from the stack's outputs (the board's API routes, its sign-in
# domain and app client), served by the same CloudFront distribution (the BoardUrl output;
# docs/board.md). STACK_NAME / REGION default to samconfig.toml's.
.PHONY: publish-board
publish-board: ## upload web/board/ and its config.json to the stack under board/, print the board's URL
	@command -v aws >/dev/null 2>&1 || { echo "make publish-board: the AWS CLI (aws) is not on PATH; nothing was uploaded. Install it (AWS's installer, or pip install awscli) and give it credentials for the stack's account: docs/board.md" >&2; exit 1; }
	@read -r stack region <<<"$$($(PYTHON) infra/deploy.py stack --config $(SAM_CONFIG) 2>/dev/null || echo agency-sales ap-southeast-2)"; \
	stack="$${STACK_NAME:-$$stack}"; region="$${REGION:-$$region}"; \
	output() { aws cloudformation describe-stacks --stack-name "$$stack" --region "$$region" \
		--query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue" --output text; }; \
	bucket=$$(output WidgetBucketName) && distribution=$$(output WidgetDistributionId) && url=$$(output BoardUrl) \
		&& api=$$(output BoardApiUrl) && auth=$$(output BoardSignInUrl) && client=$$(output BoardUserPoolClientId) \
		|| { echo "make publish-board: could not read the outputs of stack $$stack in $$region (AWS credentials? STACK_NAME / REGION?)" >&2; exit 1; }; \
	if [[ -z $$url || $$url == None ]]; then \
		echo "make publish-board: stack $$stack ($$region) has no BoardUrl output: deploy it first (make deploy), or set STACK_NAME / REGION" >&2; exit 1; \
	fi; \
	config=$$(mktemp); trap 'rm -f "$$config"' EXIT; \
	$(PYTHON) -c 'import json, sys; print(json.dumps({"apiBase": sys.argv[1], "authBase": sys.argv[2], "clientId": sys.argv[3]}))' \
		"$$api" "$$auth" "$$client" >"$$config"; \
	upload() { aws s3 cp "$$1" "s3://$$bucket/board/$$2" --region "$$region" --content-type "$$3" \
		--cache-control "$$4" --only-show-errors; }; \
	upload web/board/index.html index.html "text/html; charset=utf-8" "no-cache"; \
	upload web/board/board.js board.js "text/javascript; charset=utf-8" "public, max-age=300"; \
	upload web/board/board.css board.css "text/css; charset=utf-8" "public, max-age=300"; \
	upload "$$config" config.json "application/json" "no-cache"; \
	aws cloudfront create-invalidation --distribution-id "$$distribution" \
		--paths "/board/*" --query Invalidation.Id --output text >/dev/null; \
	echo "[board] published web/board/ and config.json to s3://$$bucket/board/ (CloudFront invalidated)"; \
	echo "[board] $$url   (sign-in: $$auth; add people: docs/board.md)"

.PHONY: send-webhook
send-webhook: ## a signed webhook to make dev's functions: PROVIDER=cal|calendly|stripe EVENT=… [EMAIL=…] [SAME=1] [ARGS=…]
	@if [[ -z "$(PROVIDER)" || -z "$(EVENT)" ]]; then \
		echo "usage: make send-webhook PROVIDER=cal|calendly|stripe EVENT=<fixture> [EMAIL=ada@example.com] [SAME=1] [ARGS='--dry-run …']"; \
		echo "events: cal: BOOKING_CREATED BOOKING_RESCHEDULED BOOKING_CANCELLED BOOKING_REQUESTED"; \
		echo "             BOOKING_REQUESTED_RESCHEDULE BOOKING_CREATED_CONFIRMED BOOKING_REJECTED"; \
		echo "        calendly: invitee.created invitee.canceled invitee.canceled.rescheduled invitee.created.rescheduled"; \
		echo "        stripe: checkout.session.completed checkout.session.expired customer.subscription.updated"; \
		echo "                customer.subscription.deleted invoice.paid invoice.payment_failed"; \
		echo "                charge.succeeded charge.refunded charge.dispute.created charge.dispute.closed"; \
		echo "more options: $(PYTHON) infra/local/send_webhook.py --help"; \
		exit 2; \
	fi
	@$(PYTHON) infra/local/send_webhook.py $(PROVIDER) $(EVENT) $(if $(EMAIL),--email '$(EMAIL)') $(if $(SAME),--same) $(ARGS)

.PHONY: invoke
invoke: cargo-lambda ## an API Gateway event to make dev's functions: FUNCTION=… EVENT=<events/FUNCTION/EVENT.json or a path>
	@if [[ -z "$(FUNCTION)" || -z "$(EVENT)" ]]; then \
		echo "usage: make invoke FUNCTION=customer-portal EVENT=signed-in   (events/: $$(cd events && ls -d */ | tr -d / | tr '\n' ' '))"; \
		exit 2; \
	fi
	@event="$(EVENT)"; [[ -f "$$event" ]] || event="events/$(FUNCTION)/$(EVENT).json"; \
	$(WITH_CARGO_LAMBDA) cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port $${WATCH_PORT:-9000} \
		$(FUNCTION) --data-file "$$event"; echo

.PHONY: stripe-standin
stripe-standin: ## only the local Stripe stand-in, in the foreground (make dev starts it itself)
	@test -f .env.dev || $(PYTHON) infra/local/env_dev.py --out .env.dev >/dev/null
	$(PYTHON) infra/local/stripe_standin.py --env-file .env.dev

.PHONY: clean
clean: db-stop ## stop local servers and remove build output and the virtualenv
	cargo clean
	rm -rf $(VENV) .local
