/* error.c - lookups into the error list of error.h. */
#include "util/error.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct entry {
	const char *name;
	const char *code;
	int status;
	const char *message;
};

static const struct entry entries[] = {
#define X(n, c, s, m) {"ESC_" #n, c, s, m},
	ESC_ERRORS(X)
#undef X
};

_Static_assert(sizeof(entries) / sizeof(entries[0]) ==
		       (size_t)(ESC_ERROR_END_ - ESC_ERROR_FIRST_ - 1),
	       "one entry per error code");

static const struct entry *lookup(int rc)
{
	if (rc <= ESC_ERROR_FIRST_ || rc >= ESC_ERROR_END_)
		return NULL;
	return &entries[rc - ESC_ERROR_FIRST_ - 1];
}

const char *esc_error_code(int rc)
{
	const struct entry *e = lookup(rc);
	return e ? e->code : "internal";
}

int esc_error_status(int rc)
{
	const struct entry *e = lookup(rc);
	return e ? e->status : 500;
}

const char *esc_error_message(int rc)
{
	const struct entry *e = lookup(rc);
	return e ? e->message : "an internal error";
}

const char *esc_error_name(int rc)
{
	const struct entry *e = lookup(rc);
	if (rc == 0)
		return "ESC_OK";
	return e ? e->name : "ESC_E?";
}

void esc_set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	if (!err || !err_size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}
