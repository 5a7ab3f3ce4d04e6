# Thin wrappers over scripts/: every target bootstraps what it needs, then runs with scripts/env.
SHELL := /bin/bash
STACK ?= local
ENV := source scripts/env &&
# The Kubernetes cluster is built and started only for what uses it: the tests, kubernetes stacks.
CLUSTER := $(shell grep -qs '^ *mlendpoints:target: *kubernetes' stacks/Pulumi.$(STACK).yaml && echo --cluster)

.PHONY: bootstrap up preview destroy test lint bench

bootstrap:
	@bash scripts/bootstrap --cluster

up:
	@bash scripts/bootstrap $(CLUSTER)
	@$(ENV) scripts/stack up $(STACK)

preview:
	@bash scripts/bootstrap $(CLUSTER)
	@$(ENV) scripts/stack preview $(STACK)

destroy:
	@bash scripts/bootstrap $(CLUSTER)
	@$(ENV) scripts/stack destroy $(STACK)

test:
	@bash scripts/bootstrap --cluster
	@$(ENV) scripts/test

lint:
	@bash scripts/bootstrap
	@$(ENV) ruff check . && ruff format --check . && mypy

bench:
	@bash scripts/bootstrap
	@$(ENV) scripts/bench
