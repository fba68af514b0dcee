# escrowd - the two commands of the README, and a few more.
#
#   make          build build/escrowd
#   make run      install what is missing (as root), build, fill escrowd.db
#                 with the demo marketplace and show how to use it
#   make test     install what is missing, build, run the whole suite (on
#                 SQLite and on a private PostgreSQL server it starts and
#                 stops), the browser tests, then the suite again under
#                 AddressSanitizer and UBSan
#   make bench    build optimized and print the benchmark figures

BUILD      ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-release
DB         ?= escrowd.db

# Debian 12 packages the build needs, and those only the tests need:
# Debian's chromium (browser tests), postgresql (a private server for the
# PostgreSQL runs) and Node.js with npm when there is none.
DEBS = gcc make meson ninja-build pkg-config libsqlite3-dev libsodium-dev libcmocka-dev \
       libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libpq-dev
TEST_DEBS = chromium postgresql node

.PHONY: all deps test-deps run test test-plain test-web test-asan bench screenshots clean format

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
	./$(BUILD)/escrowd serve --db $(DB) --listen $(LISTEN) --operator-key $(OPERATOR_KEY)

test: test-deps test-plain test-web test-asan
	@python3 tests/summary.py $(BUILD)/meson-logs/testlog.json $(ASAN_BUILD)/meson-logs/testlog.json \
	  $(BUILD)/web-tests.tap

test-plain: $(BUILD)/build.ninja
	meson setup --reconfigure $(BUILD) >/dev/null
	ninja -C $(BUILD)
	tests/pg/with-server meson test -C $(BUILD) --print-errorlogs

# The web interface in Debian's chromium, driven by playwright-core from the
# npm registry (tests/web/package-lock.json pins it).
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
	  --print-errorlogs

# bench_http runs on SQLite, then on a private PostgreSQL server with fsync
# on, as in production, with one daemon and with three on one database (a
# new database each), on fewer users and requests than SQLite's to keep
# make bench short; the server is stopped however the runs end. Each run
# that completes adds a line to BENCH_FLOWS, the table printed last (also
# when a PostgreSQL run failed).
BENCH_DEBS = postgresql
BENCH_PG_ENV = ESC_BENCH_BUYERS=64 ESC_BENCH_REQUESTS=10000
BENCH_FLOWS = $(BENCH_BUILD)/bench-flows.txt
bench: deps $(BENCH_BUILD)/build.ninja
	@tools/install-debs $(BENCH_DEBS)
	meson setup --reconfigure $(BENCH_BUILD) >/dev/null
	ninja -C $(BENCH_BUILD)
	./$(BENCH_BUILD)/bench_engine
	rm -f $(BENCH_FLOWS)
	ESC_BENCH_SUMMARY=$(BENCH_FLOWS) ./$(BENCH_BUILD)/bench_http $(BENCH_BUILD)/escrowd
	@dir=/tmp/escrowd-bench-pg-$$$$; \
	url=$$(tests/pg/server start $$dir) || exit 1; \
	trap 'tests/pg/server stop "$$dir"' EXIT; \
	trap 'exit 130' INT TERM; \
	status=0; \
	for n in 1 3; do \
		echo; \
		echo "ESC_BENCH_PG=$$url ESC_BENCH_DAEMONS=$$n $(BENCH_PG_ENV) ./$(BENCH_BUILD)/bench_http"; \
		ESC_BENCH_PG=$$url ESC_BENCH_DAEMONS=$$n ESC_BENCH_SUMMARY=$(BENCH_FLOWS) \
		  $(BENCH_PG_ENV) ./$(BENCH_BUILD)/bench_http $(BENCH_BUILD)/escrowd || status=1; \
	done; \
	echo; echo "The cancellation flow over HTTP, from the runs above:"; cat $(BENCH_FLOWS); \
	exit $$status

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD)
