# The two commands of the README. Both set everything up first (idempotent).
ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup run test bench
setup:
	@./scripts/setup.sh

run: setup
	sysmon $(ARGS)

test: setup
	SYSMON_REQUIRE_BPF=$${SYSMON_REQUIRE_BPF:-1} .venv/bin/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/run.py $(BENCH_ARGS)
