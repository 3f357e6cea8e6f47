# credential-helper: every target installs the pinned Deno (package.json) when
# it is missing. DENO=deno make … uses another one instead.

DENO_PINNED := node_modules/.bin/deno
DENO ?= $(DENO_PINNED)
# The pinned Deno is a prerequisite only when it is the one in use.
DENO_DEP := $(if $(filter $(DENO_PINNED),$(DENO)),$(DENO_PINNED),)

VERSION := $(shell sed -n 's/^export const VERSION = "\(.*\)";/\1/p' lib/version.ts)
DENO_VERSION := $(shell sed -n 's/.*"deno": "\([0-9.]*\)".*/\1/p' package.json)
# Chosen from `make bench`; see README "Footprint". The tests run with the
# same flags (tests/helpers.ts), so they exercise what the binary runs.
V8_FLAGS := --v8-flags=--jitless,--lite-mode
PREFIX ?= /usr/local
DESTDIR ?=
SYSTEMD_UNIT_DIR ?= /etc/systemd/system
SYSUSERS_DIR ?= /usr/lib/sysusers.d
IMAGE ?= credential-helper:$(VERSION)
TEST_FLAGS ?=

.DEFAULT_GOAL := help
.PHONY: help deps test unit check lint fmt fmt-check demo build bench soak image install uninstall clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

$(DENO_PINNED): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(DENO_DEP) ## install the pinned Deno and test dependencies (npm ci)

# The recipes repeat deno.json's tasks rather than call `deno task`: with
# node_modules/.bin/deno present, `deno task` runs that binary as JavaScript
# (denoland/deno#27114). tests/packaging_test.ts keeps the two identical.
test: $(DENO_DEP) fmt-check lint check ## fmt --check, lint, check and the whole test suite
	$(DENO) test --allow-all --parallel tests/ $(TEST_FLAGS)

unit: $(DENO_DEP) ## the test suite alone
	$(DENO) test --allow-all --parallel tests/ $(TEST_FLAGS)

check: $(DENO_DEP) ## type-check under the strict compiler options
	$(DENO) check main.ts lib/ tests/ bench/

lint: $(DENO_DEP) ## deno lint
	$(DENO) lint

fmt: $(DENO_DEP) ## format the sources in place
	$(DENO) fmt

fmt-check: $(DENO_DEP)
	$(DENO) fmt --check

demo: $(DENO_DEP) ## run the helper against a built-in demo endpoint; Ctrl-C stops
	$(DENO) run --allow-all tests/support/demo.ts

build: dist/credential-helper ## compile dist/credential-helper (needs denort: set DENORT_BIN offline)

dist/credential-helper: $(DENO_DEP) main.ts lib/*.ts deno.json
	$(DENO) compile -P --no-npm --no-code-cache $(V8_FLAGS) --output $@ main.ts
	./$@ --version

bench: $(DENO_DEP) ## footprint against the bare-runtime floors, the late-source latency, then 1 vs 10 targets (prints tables)
	$(DENO) run --allow-all bench/footprint.ts
	$(DENO) run --allow-all bench/late_source.ts
	$(DENO) run --allow-all bench/targets.ts

soak: $(DENO_DEP) ## 10,000 refresh cycles with injected faults (not part of make test)
	$(DENO) run --allow-all bench/soak.ts

image: ## docker build (needs a Docker engine)
	docker build --build-arg DENO_VERSION=$(DENO_VERSION) --build-arg VERSION=$(VERSION) -t $(IMAGE) .

install: dist/credential-helper ## install binary, systemd unit, sysusers entry and a 0600 env file under DESTDIR/PREFIX
	install -D -m 0755 dist/credential-helper $(DESTDIR)$(PREFIX)/bin/credential-helper
	install -D -m 0644 deploy/systemd/credential-helper.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/credential-helper.service
	sed -i 's|/usr/local/bin/credential-helper|$(PREFIX)/bin/credential-helper|g' $(DESTDIR)$(SYSTEMD_UNIT_DIR)/credential-helper.service
	install -D -m 0644 deploy/systemd/credential-helper.sysusers $(DESTDIR)$(SYSUSERS_DIR)/credential-helper.conf
	install -D -m 0644 deploy/systemd/env.example $(DESTDIR)/etc/credential-helper/env.example
	@# The env file may hold a token: created 0600, never overwritten.
	[ -e $(DESTDIR)/etc/credential-helper/env ] || install -m 0600 deploy/systemd/env.example $(DESTDIR)/etc/credential-helper/env

uninstall: ## remove what install added, but the env file and the state directory
	rm -f $(DESTDIR)$(PREFIX)/bin/credential-helper $(DESTDIR)$(SYSTEMD_UNIT_DIR)/credential-helper.service \
	  $(DESTDIR)$(SYSUSERS_DIR)/credential-helper.conf $(DESTDIR)/etc/credential-helper/env.example
	@echo "kept $(DESTDIR)/etc/credential-helper/env (it may hold a token) and /var/lib/credential-helper; run systemctl daemon-reload"

clean: ## remove build output
	rm -rf dist
