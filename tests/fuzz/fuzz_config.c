/* fuzz_config.c - libFuzzer target: a configuration file, read as
 * `escrowd --config FILE` reads it (esc_config_load): the daemon's keys
 * (db, listen, ...) and http. keys (esc_http_option_set) beside the
 * policy's (esc_policy_parse_with, esc_policy_validate).
 *
 * What must hold: a file is taken or refused with "PATH: why"; a refused
 * file leaves the policy as it was; a taken one is valid, and reading it
 * again over its own result changes nothing (each line sets a value).
 *
 * Input: the file's bytes, e.g. "response_window = 72h\nfee = 5%\n". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/config.h"
#include "http/server.h"
#include "util/error.h"

static int fd = -1;
static char path[64];

/* main.c's own keys: their values are its business, not the parser's. */
static const char *const option_keys[] = {
	"db",      "listen",         "clock",           "operator_key", "quiet",
	"db_pool", "deadline_lease", "commit_delay_us", "mode",         "writer_nice",
	NULL};

static int set_option(void *arg, const char *key, const char *value, char *err, size_t err_size)
{
	(void)arg;
	(void)err;
	(void)err_size;
	if (!key || !value)
		abort();
	return 0;
}

static int set_http(void *arg, const char *key, const char *value, char *err, size_t err_size)
{
	return esc_http_option_set(arg, key, value, err, err_size);
}

static void fail(const char *what, const char *err)
{
	fprintf(stderr, "fuzz: config: %s: %s\n", what, err);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("escrowd-fuzz.conf", 0);
	if (fd < 0) {
		perror("memfd_create");
		exit(2);
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return 0;
}

static int set_webhooks(void *arg, const char *key, const char *value, char *err, size_t err_size)
{
	return esc_webhook_option_set(arg, key, value, err, err_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct esc_policy p, before, again;
	struct esc_http_options http;
	char err[400] = "", prefix[80];
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror(path);
		exit(2);
	}
	esc_policy_default(&p);
	esc_http_options_default(&http);
	const struct esc_config_section sections[] = {
		{.keys = option_keys, .set = set_option},
		{.prefix = "http.", .set = set_http, .arg = &http},
		{.prefix = "webhooks.", .set = set_webhooks, .arg = &http.webhooks},
		{0},
	};
	before = p;
	int rc = esc_config_load(&p, path, sections, err, sizeof err);
	snprintf(prefix, sizeof prefix, "%s: ", path);
	if (rc) {
		if (rc != ESC_EINVAL)
			fail("a file in memory is refused for another reason than its text", err);
		if (strncmp(err, prefix, strlen(prefix)) || !err[strlen(prefix)] ||
		    !memchr(err, '\0', sizeof err))
			fail("a refusal does not say where and why", err);
		if (memcmp(&p, &before, sizeof p))
			fail("a refused file changed the policy", err);
		return 0;
	}
	if (esc_policy_validate(&p, err, sizeof err))
		fail("a file was taken that leaves the policy invalid", err);
	again = p;
	if (esc_config_load(&again, path, sections, err, sizeof err))
		fail("a file taken once is refused the second time", err);
	if (memcmp(&again, &p, sizeof p))
		fail("reading a file again over its own result changed the policy", path);
	return 0;
}
