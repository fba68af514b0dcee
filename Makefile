# escrowd - the two commands of the README, and a few more.
#
#   make          build build/escrowd
#   make run      install what is missing (as root), build, fill escrowd.db
#                 with the demo marketplace and show how to use it
#   make test     install what is missing, build, run the whole suite, then
#                 run it again under AddressSanitizer and UBSan
#   make bench    build optimized and print the benchmark figures

BUILD      ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-release
DB         ?= escrowd.db

# Debian 12 packages the build and the tests need.
DEBS = gcc make meson ninja-build pkg-config libsqlite3-dev libsodium-dev libcmocka-dev \
       libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev

.PHONY: all deps run test test-plain test-asan bench clean format

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Install missing packages when root (a fresh Debian 12 machine); otherwise
# only say what is missing.
deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "missing Debian packages:$$missing (run as root, or apt-get install them)"; exit 1; \
	  fi; \
	fi

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
	@echo "Open http://$(LISTEN)/v1/cancellation-reasons, or sign in with POST /v1/sessions."
	./$(BUILD)/escrowd serve --db $(DB) --listen $(LISTEN) --operator-key $(OPERATOR_KEY)

test: deps test-plain test-asan
	@python3 tests/summary.py $(BUILD)/meson-logs/testlog.json $(ASAN_BUILD)/meson-logs/testlog.json

test-plain: $(BUILD)/build.ninja
	meson setup --reconfigure $(BUILD) >/dev/null
	ninja -C $(BUILD)
	meson test -C $(BUILD) --print-errorlogs

test-asan: $(ASAN_BUILD)/build.ninja
	meson setup --reconfigure $(ASAN_BUILD) >/dev/null
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ESC_TEST_QUICK=1 meson test -C $(ASAN_BUILD) --print-errorlogs

bench: deps $(BENCH_BUILD)/build.ninja
	meson setup --reconfigure $(BENCH_BUILD) >/dev/null
	ninja -C $(BENCH_BUILD)
	./$(BENCH_BUILD)/bench_engine
	./$(BENCH_BUILD)/bench_http $(BENCH_BUILD)/escrowd

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD)
