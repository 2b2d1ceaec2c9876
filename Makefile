# hb: `make` builds dist/hb, `make test` runs every test, `make demo` shows a failover.
# A fresh Debian machine needs only node and npm: the rest is installed here.
SHELL := /bin/bash
BUN := node_modules/.bin/bun
SRC := $(shell find src native -type f 2>/dev/null) build.ts package.json
# Debian packages the build and the tests need, by the command that proves each is there.
BUILD_TOOLS := gcc:gcc objdump:binutils
BUILD_HEADERS := /usr/include/stdio.h:libc6-dev /usr/include/linux/if_packet.h:linux-libc-dev
TEST_TOOLS := ip:iproute2 nft:nftables socat:socat tc:iproute2 ping:iputils-ping unshare:util-linux promtool:prometheus /usr/libexec/heartbeat/heartbeat:heartbeat lintian:lintian groff:groff-base tmux:tmux zsh:zsh etcd:etcd-server etcdctl:etcd-client openssl:openssl
# prometheus (for promtool, which parses our metrics), heartbeat (a real Heartbeat 3 node for the legacy guard test), etcd-server (the arbiter's tests run three members in namespaces) and keepalived ship services: the `need` macro puts a policy-rc.d (exit 101) in place first, and the
# bench runs keepalived only inside its own namespaces
BENCH_TOOLS := keepalived:keepalived stress-ng:stress-ng
# arm64 (issue 15): the cross compiler and libc (the shim), qemu-user (the tests run the arm64 binary under emulation)
ARM64_TOOLS := aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu /usr/aarch64-linux-gnu/include/stdio.h:libc6-dev-arm64-cross qemu-aarch64-static:qemu-user-static
# Bun's arm64 runtime comes from npm, at the version package.json pins for Bun itself
BUN_VERSION := $(shell node -p "require('./package.json').devDependencies.bun" 2>/dev/null)
ARM64_RUNTIME := build/bun-linux-aarch64/package/bin/bun
# the Debian package (make deb); defined before any rule names it: prerequisites expand as they are read
DEB := dist/hb_$(shell node -p "require('./package.json').version" 2>/dev/null)-1_amd64.deb

.PHONY: all dist deb man test unit netns bench demo cts soak clean toolchain arm64-toolchain test-toolchain typecheck lint format
all: dist/hb

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@$(BUN) --version >/dev/null
	touch $@

# Install what is missing, and only that, from Debian (apt-get update once).
define need
	@missing=""; for pair in $(1); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  if [[ $$cmd == /* ]]; then [ -e "$$cmd" ] || missing="$$missing $$pkg"; \
	  else command -v "$$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$$cmd" ] || [ -x "/sbin/$$cmd" ] || missing="$$missing $$pkg"; fi; done; \
	if [ -n "$$missing" ]; then echo "installing from Debian:$$missing"; \
	  [ "$$(id -u)" = 0 ] || { echo "need root to install:$$missing"; exit 1; }; \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi
endef

toolchain:
	$(call need,$(BUILD_TOOLS) $(BUILD_HEADERS))

test-toolchain:
	$(call need,$(TEST_TOOLS))

arm64-toolchain:
	$(call need,$(ARM64_TOOLS))

build/libhb.so dist/hb: node_modules/.installed $(SRC) | toolchain
	$(BUN) run build.ts

# One file per architecture: copy the one `uname -m` names (x86_64: hb-linux-x64, aarch64: hb-linux-arm64).
dist: dist/hb dist/hb-linux-x64 dist/hb-linux-arm64

dist/hb-linux-x64: dist/hb
	cp dist/hb $@

$(ARM64_RUNTIME): package.json
	rm -rf build/bun-linux-aarch64 && mkdir -p build/bun-linux-aarch64
	cd build/bun-linux-aarch64 && npm pack --silent @oven/bun-linux-aarch64@$(BUN_VERSION) >/dev/null && tar xzf oven-bun-linux-aarch64-$(BUN_VERSION).tgz && rm oven-bun-linux-aarch64-*.tgz
	touch $@

dist/hb-linux-arm64: node_modules/.installed $(SRC) $(ARM64_RUNTIME) | toolchain arm64-toolchain
	$(BUN) run build.ts --arch arm64

# Two bun runs at once, each with its junit report (build/junit-netns.xml, build/junit-rest.xml; .ci/run
# counts both): the network-namespace tests, which mostly wait on timers, beside the rest (unit, sim,
# system, arm64), which mostly compute. On two cores that saves the rest's 100 s or so; the network
# tests hold under a full `stress-ng --cpu 2` already. Network tests need root and skip loudly
# without it.
REST_TESTS := $(filter-out test/netns,$(patsubst %/,%,$(dir $(wildcard test/*/*.test.ts))))
test: dist/hb dist/hb-linux-arm64 test-toolchain $(DEB) typecheck lint
	@rm -f build/junit*.xml build/test-rest.rc
	@( $(BUN) test --timeout 60000 --reporter=junit --reporter-outfile=build/junit-rest.xml $(sort $(REST_TESTS)) \
	    > build/test-rest.log 2>&1; echo $$? > build/test-rest.rc ) & \
	$(BUN) test --timeout 60000 --reporter=junit --reporter-outfile=build/junit-netns.xml test/netns 2>&1 \
	  | tee build/test-netns.log; rc=$${PIPESTATUS[0]}; wait; \
	echo "--- the rest (unit, sim, system, arm64), run beside the network tests:"; cat build/test-rest.log; \
	rest=$$(cat build/test-rest.rc 2>/dev/null || echo 1); [ "$$rc" -eq 0 ] && [ "$$rest" -eq 0 ]

# TypeScript types (bun runs the sources without checking them)
typecheck: node_modules/.installed build/libhb.so
	node_modules/.bin/tsc -p .

# Formatting and lint (Biome): fails on any drift, so CI catches it; `make format` fixes what it can.
lint: node_modules/.installed
	node_modules/.bin/biome ci --colors=off

format: node_modules/.installed
	node_modules/.bin/biome check --write

unit: build/libhb.so
	$(BUN) test test/unit

netns: dist/hb test-toolchain
	$(BUN) test --timeout 60000 test/netns

# The Debian package dist/hb_<version>-1_amd64.deb (dpkg-deb; nothing downloaded), from dist/hb.
deb: $(DEB)
$(DEB): dist/hb scripts/deb.ts examples/ha.toml
	$(BUN) scripts/deb.ts

# Man pages hb(8) and ha.toml(5) in build/man, from the CLI and the config schema.
man: node_modules/.installed
	$(BUN) scripts/man.ts

# A live cluster in network namespaces: failover and failback, with a timeline. Needs root.
demo: dist/hb test-toolchain
	$(BUN) scripts/demo.ts

# The randomized cluster test: CTS_ITERATIONS (default 100) seeded faults and audits; CTS_SEED replays a run. Needs root.
cts: dist/hb test-toolchain
	$(BUN) test/cts/main.ts

# Performance figures (not asserted by tests). BENCH_SECONDS=15 for a quick look.
bench: dist/hb test-toolchain
	$(call need,$(BENCH_TOOLS))
	$(BUN) test/bench/run.ts 2>&1 | tee build/bench.txt

# Memory over time (issue 19): SOAK_SECONDS (default 3600), SOAK_KEEPALIVE_MS (default 10), SOAK_SAMPLE (s). Needs root.
soak: dist/hb test-toolchain
	$(BUN) test/soak/soak.ts 2>&1 | tee build/soak.txt

clean:
	rm -rf build dist
