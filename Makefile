# Thin wrappers over scripts/: every target bootstraps what it needs, then runs with scripts/env.
SHELL := /bin/bash
STACK ?= local
ENV := source scripts/env &&

.PHONY: bootstrap up preview destroy test lint bench

bootstrap:
	@bash scripts/bootstrap

up: bootstrap
	@$(ENV) scripts/stack up $(STACK)

preview: bootstrap
	@$(ENV) scripts/stack preview $(STACK)

destroy: bootstrap
	@$(ENV) scripts/stack destroy $(STACK)

test: bootstrap
	@$(ENV) scripts/test

lint: bootstrap
	@$(ENV) ruff check . && ruff format --check . && mypy

bench: bootstrap
	@$(ENV) scripts/bench
