# The two commands of the README. Both set everything up first (idempotent).
ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup run test bench test-kernels test-kernels-smoke
setup:
	@./scripts/setup.sh

run: setup
	sysmon $(ARGS)

test: setup
	SYSMON_REQUIRE_BPF=$${SYSMON_REQUIRE_BPF:-1} .venv/bin/python -m pytest -q $(PYTEST_ARGS)

# Debian 11's 5.10, 12's 6.1, 13's 6.12 in VMs (virtme-ng, emulated where KVM does not boot) and the host's
# kernel: the kernel tests in each, one table (tests/vm/matrix.py). KERNELS="6.1 host" picks some.
KERNELS ?=
test-kernels: setup
	.venv/bin/python -m tests.vm.matrix $(KERNELS)

# CI's subset: the tests marked smoke, in Debian 11 (5.10) and Debian 12 (6.1) guests.
SMOKE_KERNELS ?= 5.10 6.1
test-kernels-smoke: setup
	.venv/bin/python -m tests.vm.matrix --smoke $(SMOKE_KERNELS)

bench: setup
	.venv/bin/python bench/run.py $(BENCH_ARGS)
