# Takhin's build and test entry points. `make test` is the whole suite; CI
# runs it through .ci/run on a clean clone.

CARGO ?= cargo
TAKHIN_BIN ?= $(CURDIR)/target/debug/takhin
FUZZ_SECONDS ?= 30

.PHONY: run build test lint rust-test compat-install compat-test console-kafka-test fuzz-smoke bench-check bench \
	web web-install web-test web-e2e

# Builds the web console first: a release binary embeds web/dist.
run: web
	$(CARGO) run --release -p takhin -- serve

# The web console (web/, see web/README.md). `make web` installs the locked
# npm packages and builds web/dist only when they or the sources changed.
WEB_SOURCES := $(shell find web/src web/index.html web/rsbuild.config.ts web/postcss.config.mjs \
	web/tsconfig.json web/package.json web/scripts -type f 2>/dev/null)
WEB_INSTALLED := web/node_modules/.package-lock.json

$(WEB_INSTALLED): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web-install: $(WEB_INSTALLED)

web/dist/index.html: $(WEB_INSTALLED) $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html

# Lint and format (Biome), type check, unit tests (Vitest), and the check
# that web/src/generated matches crates/takhin-console/openapi.json.
web-test: $(WEB_INSTALLED)
	cd web && npx biome ci .
	cd web && npx tsc --noEmit
	cd web && npx vitest run
	cd web && npm run check:generated

# Browser tests: a real `takhin serve` and Debian's chromium driven by
# playwright-core (see web/e2e/README.md). Screenshots go to web/e2e/screenshots.
web-e2e: web
	$(CARGO) build -p takhin
	cd web && TAKHIN_BIN=$(TAKHIN_BIN) node e2e/run.mjs

build:
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

rust-test: build
	$(CARGO) test --workspace

compat-install:
	tests/compat/install.sh

compat-test: build compat-install
	TAKHIN_BIN=$(TAKHIN_BIN) tests/compat/run.sh

# The console's REST API tests once more, against Apache Kafka 4.1.1 from
# Maven Central: the console must not be Takhin-only.
console-kafka-test:
	tests/console-kafka/run.sh

fuzz-smoke:
	fuzz/smoke.sh $(FUZZ_SECONDS)

# The benchmark harness is not run by the tests, only checked so it cannot rot.
bench-check:
	bench/check.sh

# Side-by-side benchmark against Apache Kafka (see docs/benchmarks.md).
bench:
	bench/run.sh --quick

# The whole suite: lint, Rust unit/property/integration tests, the web
# console's lint/type/unit checks and its browser tests (a real `takhin serve`,
# both themes), real-client suites against a broker started per test module
# (including schemathesis on the console's OpenAPI document), the console API
# tests against Apache Kafka, a short fuzz run, and a check that the benchmark
# harness still resolves and parses.
test: lint rust-test web-test web-e2e compat-test console-kafka-test fuzz-smoke bench-check
