/* bug.c - ESC_BUG and ESC_ASSERT's one way out. */
#include "util/bug.h"

#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void esc_bug_at(const char *file, int line, const char *func, const char *cond, const char *fmt,
		...)
{
	char message[1024];
	va_list ap;
	size_t n;

	/* The build passes sources as "../src/...": say "src/...". */
	while (!strncmp(file, "../", 3))
		file += 3;
	n = (size_t)snprintf(message, sizeof message, "BUG at %s:%d in %s: ", file, line, func);
	if (n < sizeof message) {
		va_start(ap, fmt);
		n += (size_t)vsnprintf(message + n, sizeof message - n, fmt, ap);
		va_end(ap);
	}
	if (cond && n < sizeof message)
		n += (size_t)snprintf(message + n, sizeof message - n, " (failed: %s)", cond);
	message[sizeof message - 1] = '\0';
	/* One JSON line, written whole among other threads' lines, whatever
	 * the log level. */
	fflush(stderr);
	esc_log(ESC_LOG_FATAL, message);
	abort();
}
