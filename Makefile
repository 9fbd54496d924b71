# seglab: the two commands of the README, plus the benchmark and lint.
#
#   make run    all four whitepaper scenarios, verified on the built-in defaults
#   make test   both test tiers, pure and live (the real Docker engine, as
#               root); a live test that cannot run fails instead of skipping
#   make bench  medians of up/down/verify, against a docker-compose baseline
#   make lint   rustfmt and clippy as CI wants them

CARGO   ?= cargo
TARGET  := x86_64-unknown-linux-gnu
RELEASE := target/$(TARGET)/release
DEBUG   := target/$(TARGET)/debug

.PHONY: all build run test bench lint clean-images

all: build

build:
	$(CARGO) build --release --bins

run: build
	$(RELEASE)/seglab test

# Plain `cargo test` skips a live test where Docker or root is missing;
# here that is a failure, so that CI cannot pass by skipping.
test: export SEGLAB_LIVE = require
test:
	$(CARGO) build --bins
	$(CARGO) test --workspace -- --test-threads=4 ; status=$$? ; \
	  $(DEBUG)/seglab down --images >/dev/null 2>&1 ; exit $$status

bench: build
	python3 tests/bench.py --seglab $(RELEASE)/seglab

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

clean-images:
	$(DEBUG)/seglab down --images || true
