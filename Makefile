# Takhin's build and test entry points. `make test` is the whole suite; CI
# runs it through .ci/run on a clean clone.

CARGO ?= cargo
TAKHIN_BIN ?= $(CURDIR)/target/debug/takhin
FUZZ_SECONDS ?= 30

.PHONY: run build test lint rust-test compat-install compat-test fuzz-smoke bench-check bench

run:
	$(CARGO) run --release -p takhin -- serve

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

fuzz-smoke:
	fuzz/smoke.sh $(FUZZ_SECONDS)

# The benchmark harness is not run by the tests, only checked so it cannot rot.
bench-check:
	bench/check.sh

# Side-by-side benchmark against Apache Kafka (see docs/benchmarks.md).
bench:
	bench/run.sh --quick

# The whole suite: lint, Rust unit/property/integration tests, real-client
# suites against a broker started per test module, a short fuzz run, and a
# check that the benchmark harness still resolves and parses.
test: lint rust-test compat-test fuzz-smoke bench-check
