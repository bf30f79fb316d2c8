# Gatehouse. `make test` is the one test command (CI runs it through
# .ci/run): it prepares the machine (services, tools, browser driver), then
# runs every gate. Other targets: run, build, bench, load, fuzz, clean.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

GO        ?= go
# Where `go install` puts tools.
TOOLBIN   := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

STATICCHECK_VERSION ?= latest
# govulncheck@latest (v1.9.0) does not install from this module proxy.
GOVULNCHECK_VERSION ?= v1.8.0
STATICCHECK := $(TOOLBIN)/staticcheck
GOVULNCHECK := $(TOOLBIN)/govulncheck

TEST_TIMEOUT ?= 15m
FUZZTIME     ?= 10s
BENCH        ?= .
BENCH_PKGS   ?= ./...

BROWSER_DIR := cmd/gatehouse/testdata/browser
# The offline Go vulnerability database (vuln.go.dev is unreachable here);
# the newest snapshot wins.
# VULNDB= names another snapshot.
VULNDB         ?= $(lastword $(sort $(wildcard ../shared/vulndb/go-vulndb-osv-*.tar.gz)))
VULNDB_TARBALL := $(VULNDB)
VULNDB_DIR     := $(CURDIR)/.cache/vulndb

GO_FILES = $(shell find . -name '*.go' -not -path './.git/*' -not -path './.cache/*' -not -path '*/node_modules/*')

.PHONY: test check services tools browser-deps fmt vet staticcheck gotest deploytest vulncheck \
        run build bench load revocation fuzz clean

## test: prepare the machine, then gofmt, vet, staticcheck, race tests, deployment rendering, govulncheck
test: services tools browser-deps check

## check: the gates alone, on a machine already prepared
check: fmt vet staticcheck gotest deploytest vulncheck

services:
	.ci/ensure-services.sh

tools: $(STATICCHECK) $(GOVULNCHECK)

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(GOVULNCHECK):
	$(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

browser-deps: $(BROWSER_DIR)/node_modules/.package-lock.json

# npm ci writes node_modules/.package-lock.json, so this reruns only when
# the lock file changes.
$(BROWSER_DIR)/node_modules/.package-lock.json: $(BROWSER_DIR)/package-lock.json $(BROWSER_DIR)/package.json
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund
	touch $@

fmt:
	@files=$$(gofmt -l $(GO_FILES)); \
	if [ -n "$$files" ]; then echo "gofmt would change these files (run gofmt -w):"; echo "$$files"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

gotest:
	$(GO) test -race -count=1 -p 2 -timeout $(TEST_TIMEOUT) ./...
	@# Allocation counts are meaningless under -race (sync.Pool drops items),
	@# so the tests asserting "0 allocs" also run once without it.
	$(GO) test -count=1 -run 'Alloc|Allocate' ./auth/... ./proxy/...

# The shipped Helm chart and compose file, rendered (Helm SDK, compose-go)
# and laid out as a container would see them, must pass check-config as
# the container's user (root needed; see deploy/README.md). A module of its
# own (deploy/rendertest/go.mod): Helm and the Kubernetes types stay out of
# the gateway's go.mod, builds and govulncheck. The first run compiles
# them (about 5 minutes on 2 cores with an empty build cache).
deploytest:
	cd deploy/rendertest && $(GO) vet ./... && $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# A finding in code the module calls makes govulncheck exit non-zero.
ifeq ($(VULNDB_TARBALL),)
vulncheck: $(GOVULNCHECK)
	@echo "vulncheck: no ../shared/vulndb/go-vulndb-osv-*.tar.gz; using the online database"
	@$(GOVULNCHECK) ./... || { status=$$?; \
	  if ! curl -fsS --max-time 10 -o /dev/null https://vuln.go.dev/index/db.json 2>/dev/null; then \
	    echo "vulncheck: vuln.go.dev cannot be reached and no offline database was found;"; \
	    echo "  download a snapshot (go-vulndb-osv-*.tar.gz) and run: make test VULNDB=/path/to/go-vulndb-osv-DATE.tar.gz"; \
	  fi; exit $$status; }
else
vulncheck: $(GOVULNCHECK) $(VULNDB_DIR)/.extracted
	$(GOVULNCHECK) -db file://$(VULNDB_DIR)/data/osv ./...

$(VULNDB_DIR)/.extracted: $(VULNDB_TARBALL)
	rm -rf $(VULNDB_DIR) && mkdir -p $(VULNDB_DIR)
	tar xzf $< -C $(VULNDB_DIR)
	test -d $(VULNDB_DIR)/data/osv
	touch $@
endif

## run: the gateway on the embedded defaults (127.0.0.1:8080, demo upstream)
run:
	$(GO) run ./cmd/gatehouse serve

## build: bin/gatehouse
build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/gatehouse ./cmd/gatehouse

## bench: Go benchmarks, one package at a time so they do not share the CPUs
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count 1 -p 1 -timeout 20m $(BENCH_PKGS)

## load: wrk against upstream, bare proxy and gatehouse (memory, Redis); see bench/load.sh
load: services
	bench/load.sh

## revocation: time a logout/disable/policy change until every replica refuses; see bench/revocation.sh
revocation: services
	bench/revocation.sh

## fuzz: every Fuzz target for FUZZTIME each
fuzz:
	@files=$$(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v node_modules | sort || true); \
	for f in $$files; do \
		dir=$$(dirname "$$f"); \
		for name in $$(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$$f" | sed 's/^func //'); do \
			echo "== $$name ($$dir)"; \
			$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10x "$$dir"; \
		done; \
	done

clean:
	rm -rf bin .cache
