# lcm — the two commands of the README, and their parts.
#   make demo   set up, build in release, restore a real clip with the shipped model
#   make test   set up, build, run the whole test suite
.PHONY: setup setup-reference build plugin demo test bench clean

CARGO ?= cargo

setup:
	scripts/setup.sh

# The tests compare against PyTorch itself, whose Python package needs the full CUDA wheel set.
setup-reference:
	scripts/setup.sh --reference

build: setup
	$(CARGO) build --release --workspace

demo: build
	pipelines/demo.sh

test: setup-reference
	$(CARGO) test --release --workspace

# Benchmark 1 on the CPU; the others are in benches/ (see benches/NOTES.md).
bench: build setup-reference
	benches/step.sh cpu

clean:
	$(CARGO) clean
