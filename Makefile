# escrowd - the two commands of the README, and a few more.
#
#   make          build build/escrowd
#   make run      install what is missing (as root), build, fill escrowd.db
#                 with the demo marketplace and show how to use it
#   make test     install what is missing, build, run the whole suite (on
#                 SQLite and on a private PostgreSQL server it starts and
#                 stops), the browser tests, then the suite again under
#                 AddressSanitizer and UBSan, and the daemon's HTTP and
#                 cluster tests under ThreadSanitizer
#   make bench    build optimized and print the benchmark figures
#   make fuzz     run each libFuzzer target for FUZZ_SECONDS (tests/fuzz/)
#   make deb      build the Debian package (debian/) into build-deb/

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
BENCH_BUILD ?= build-release
DB         ?= escrowd.db

# Debian 12 packages the build needs, and those only the tests need:
# Debian's chromium-headless-shell (browser tests), postgresql (a private
# server for the PostgreSQL runs), Node.js with npm when there is none, and
# clang with its runtimes (libclang-rt-14-dev holds libFuzzer and the
# sanitizers).
# libsystemd-dev gives sd_notify (escrowd serve in a Type=notify unit);
# systemd gives systemd-analyze, which test_systemd runs on the unit.
# scdoc builds the man page, escrowd(8), from doc/escrowd.8.scd.
DEBS = gcc make meson ninja-build pkg-config libsqlite3-dev libsodium-dev libcmocka-dev \
       libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libpq-dev libsystemd-dev scdoc
# debhelper and dpkg-dev build the Debian package (make deb, and the test
# deb that builds it).
TEST_DEBS = chromium-headless-shell postgresql node systemd $(FUZZ_DEBS) $(DEB_DEBS)
DEB_DEBS = debhelper dpkg-dev
FUZZ_DEBS = clang libclang-rt-14-dev

.PHONY: all deps test-deps run test test-plain test-web test-asan test-tsan test-fuzz fuzz fuzz-deps \
	fuzz-build bench screenshots clean format deb

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Install missing packages when root (a fresh Debian 12 machine); otherwise
# only say what is missing.
deps:
	@tools/install-debs $(DEBS)

test-deps:
	@tools/install-debs $(DEBS) $(TEST_DEBS)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
	  -Dc_args=-fno-sanitize-recover=all

$(TSAN_BUILD)/build.ninja:
	meson setup $(TSAN_BUILD) -Db_sanitize=thread -Db_lundef=false

$(BENCH_BUILD)/build.ninja:
	meson setup $(BENCH_BUILD) --buildtype=release -Db_ndebug=false

# The demo creates escrowd.db, or finds it there and only prints how to
# sign in; then the daemon serves it until Ctrl-C.
OPERATOR_KEY ?= demo-operator-key-change-me
LISTEN ?= 127.0.0.1:8080
run: deps all
	./$(BUILD)/escrowd demo --db $(DB)
	./$(BUILD)/escrowd check --db $(DB)
	@echo "Operator API key: $(OPERATOR_KEY)"
	@echo "Open http://$(LISTEN)/ and sign in with the details above; the API is under /v1."
	@echo "The daemon runs in production mode (the default): the real clock, no /v1/clock/advance."
	./$(BUILD)/escrowd serve --db $(DB) --listen $(LISTEN) --operator-key $(OPERATOR_KEY)

test: test-deps test-plain test-web test-asan test-tsan test-fuzz
	@python3 tests/summary.py $(BUILD)/meson-logs/testlog.json $(ASAN_BUILD)/meson-logs/testlog.json \
	  $(TSAN_BUILD)/meson-logs/testlog.json $(BUILD)/web-tests.tap
	@cat $(FUZZ_BUILD)/fuzz-summary.txt

test-plain: $(BUILD)/build.ninja
	meson setup --reconfigure $(BUILD) >/dev/null
	ninja -C $(BUILD)
	tests/pg/with-server meson test -C $(BUILD) --print-errorlogs

# The web interface in Debian's chromium-headless-shell, driven by
# playwright-core from the npm registry (tests/web/package-lock.json pins
# it).
WEB_TESTS = $(wildcard tests/web/*.test.mjs)
tests/web/node_modules: tests/web/package.json tests/web/package-lock.json
	cd tests/web && npm ci --no-audit --no-fund
	touch $@

test-web: $(BUILD)/build.ninja tests/web/node_modules
	ninja -C $(BUILD)
	@ESC_BUILD_DIR=$(abspath $(BUILD)) node --test --test-reporter=tap $(WEB_TESTS) \
	  > $(BUILD)/web-tests.tap; status=$$?; cat $(BUILD)/web-tests.tap; exit $$status

# The README's screenshots, from the same browser tests.
screenshots: $(BUILD)/build.ninja tests/web/node_modules
	ninja -C $(BUILD)
	ESC_BUILD_DIR=$(abspath $(BUILD)) ESC_SCREENSHOTS=$(abspath docs/screenshots) \
	  node --test $(WEB_TESTS)

test-asan: $(ASAN_BUILD)/build.ninja
	meson setup --reconfigure $(ASAN_BUILD) >/dev/null
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ESC_TEST_QUICK=1 tests/pg/with-server meson test -C $(ASAN_BUILD) --no-suite postgresql \
	  --no-suite deb --print-errorlogs

# The tests that drive the daemon, under ThreadSanitizer: the test
# programs and the daemons they start (from ESC_BUILD_DIR, meson's build
# directory) are TSan builds, three_daemons on a private PostgreSQL
# server. A report ends the process that found it with status 66
# (halt_on_error), which fails the test that stops it, and is written to
# $(TSAN_BUILD)/tsan/ as well, since the daemons' stderr is the tests' to
# keep or drop: any report there fails the target and is shown. Nothing
# is suppressed: the runs so far found no race in libmicrohttpd, libpq,
# SQLite or jansson. delivery runs the webhook worker's thread beside the
# engine's; replay runs its reader and its two runs in three threads;
# read_your_writes runs 32 clients on the read pool at three sizes.
# ESC_TEST_QUICK shortens the slowest (http_authz) as under ASan.
# Only what these tests run is built: the daemon and their programs (not
# the other test programs, 35 of them, half the build's time).
TSAN_TESTS = http http_authz hardening three_daemons delivery replay read_your_writes
TSAN_PROGRAMS = escrowd $(patsubst %,test_%,$(filter-out three_daemons,$(TSAN_TESTS)))
TSAN_REPORTS = $(abspath $(TSAN_BUILD))/tsan
test-tsan: $(TSAN_BUILD)/build.ninja
	meson setup --reconfigure $(TSAN_BUILD) >/dev/null
	ninja -C $(TSAN_BUILD) $(TSAN_PROGRAMS)
	@rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	@status=0; \
	TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1:log_path=$(TSAN_REPORTS)/report \
	  ESC_TEST_QUICK=1 tests/pg/with-server meson test -C $(TSAN_BUILD) --no-rebuild --print-errorlogs \
	  $(TSAN_TESTS) \
	  || status=$$?; \
	for f in $(TSAN_REPORTS)/report.*; do \
		[ -e "$$f" ] || continue; echo "== $$f"; cat "$$f"; status=1; \
	done; \
	exit $$status

# libFuzzer targets (tests/fuzz/README.md), built by clang with ASan and
# UBSan over the library's sources: make test runs each for
# FUZZ_TEST_SECONDS on its seed corpus, make fuzz for FUZZ_SECONDS; new
# inputs go to a temporary directory, a crash's input to
# $(FUZZ_BUILD)/crashes/ and fails the run.
FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 300
FUZZ_TEST_SECONDS ?= 12
FUZZ_TARGETS = config evidence request body http
FUZZ_PKGS = sqlite3 libpq libsodium libmicrohttpd jansson libcurl
FUZZ_FLAGS = -std=c17 -D_GNU_SOURCE -DESC_VERSION='"fuzz"' -g -O1 -fno-omit-frame-pointer \
  -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra -Isrc \
  $(shell pkg-config --cflags $(FUZZ_PKGS) 2>/dev/null)
FUZZ_LIB = $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(filter-out src/cli/%,$(wildcard src/*/*.c src/*/*/*.c)))
WEB_FILES = $(wildcard web/*.html web/*.css web/*.js web/*.json)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(@D)
	@echo "fuzz: CC $<"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/embed: tools/embed.c
	@mkdir -p $(@D)
	cc -O1 -o $@ $<

$(FUZZ_BUILD)/assets.o: $(FUZZ_BUILD)/embed $(WEB_FILES)
	@$(FUZZ_BUILD)/embed $(FUZZ_BUILD)/assets.c $(WEB_FILES)
	@$(FUZZ_CC) $(FUZZ_FLAGS) -c $(FUZZ_BUILD)/assets.c -o $@

$(FUZZ_BUILD)/openapi.o: $(FUZZ_BUILD)/embed src/http/openapi.json
	@sed 's/@VERSION@/fuzz/' src/http/openapi.json > $(FUZZ_BUILD)/openapi.json
	@$(FUZZ_BUILD)/embed --string esc_openapi_json $(FUZZ_BUILD)/openapi.c $(FUZZ_BUILD)/openapi.json
	@$(FUZZ_CC) $(FUZZ_FLAGS) -c $(FUZZ_BUILD)/openapi.c -o $@

$(FUZZ_BUILD)/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	@echo "fuzz: CC $<"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -Werror -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/tests/fuzz/harness.o \
		      $(FUZZ_LIB) $(FUZZ_BUILD)/assets.o $(FUZZ_BUILD)/openapi.o
	@echo "fuzz: LINK $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ \
	  $(shell pkg-config --libs $(FUZZ_PKGS) 2>/dev/null) -lpthread

.PRECIOUS: $(FUZZ_BUILD)/%.o

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# The fuzz build's ~40 objects on every core: make test runs without -j,
# and one after another they took 40 s.
NPROC := $(shell nproc 2>/dev/null || echo 2)
test-fuzz:
	@$(MAKE) --no-print-directory -j$(NPROC) fuzz-build
	tests/fuzz/run $(FUZZ_TEST_SECONDS) $(FUZZ_BUILD) $(FUZZ_TARGETS)

fuzz-deps:
	@tools/install-debs $(DEBS) $(FUZZ_DEBS)

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory -j$(NPROC) fuzz-build
	tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BUILD) $(FUZZ_TARGETS)

# bench/bench.py prints issue 15's figures and goals: POST /v1/orders and
# each command of the cancellation flow over HTTP with wrk, beside the
# reference programs of bench/anchors/ (the group-commit reference and the
# libmicrohttpd ceiling) built with it; p99 at half the load; GET against
# /healthz; the flow on a private PostgreSQL server with fsync on, as in
# production (with 1 and 3 daemons, a new database each; the server is
# stopped however the runs end); deadlines fired and a daemon's size over
# BENCH_ORDERS orders (1,000,000, the goal's count: some 3 minutes to create
# and 1 to fire on a quiet machine);
# escrowd replay's commands a second over BENCH_REPLAY recorded commands
# (1,000,000, the goal's count: some 4 minutes to build and 2 to replay).
# Then bench_http on SQLite for the webhook figures (deliveries a second,
# outbox lag), and bench_memory (a script) the daemon's resident size
# through 30,000 bodies of 200 KB.
BENCH_DEBS = postgresql wrk
BENCH_ORDERS ?= 1000000
BENCH_REPLAY ?= 1000000
bench: deps $(BENCH_BUILD)/build.ninja
	@tools/install-debs $(BENCH_DEBS)
	meson setup --reconfigure $(BENCH_BUILD) >/dev/null
	ninja -C $(BENCH_BUILD)
	@dir=/tmp/escrowd-bench-pg-$$$$; \
	url=$$(tests/pg/server start $$dir) || exit 1; \
	trap 'tests/pg/server stop "$$dir"' EXIT; \
	trap 'exit 130' INT TERM; \
	ESC_BENCH_PG=$$url ESC_BENCH_ORDERS=$(BENCH_ORDERS) \
	ESC_BENCH_REPLAY_COMMANDS=$(BENCH_REPLAY) bench/bench.py $(BENCH_BUILD)
	@echo; echo "Webhooks on: bench_http on SQLite"
	ESC_BENCH_REQUESTS=5000 ESC_BENCH_BUYERS=32 ./$(BENCH_BUILD)/bench_http $(BENCH_BUILD)/escrowd
	bench/bench_memory.py $(BENCH_BUILD)/escrowd

# The Debian package (debian/: debhelper with meson), built by
# dpkg-buildpackage from a copy of the source in a temporary directory
# under DEB_BUILD, so that the checkout stays clean; the .deb (and its
# debug symbols' escrowd-dbgsym) land in DEB_BUILD, and the last line
# names it. docs/operations.md, "Install from the Debian package".
DEB_BUILD ?= build-deb
deb:
	@tools/install-debs $(DEBS) $(DEB_DEBS)
	@tools/build-deb $(DEB_BUILD) -jauto

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(BENCH_BUILD) $(FUZZ_BUILD) $(DEB_BUILD)
