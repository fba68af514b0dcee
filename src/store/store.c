/* store.c - open a store by URL and pick its backend. */
#include "store/store.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "store/pg/pg.h"
#include "store/sqlite/sqlite.h"
#include "util/error.h"

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int esc_store_open(const char *url, struct esc_store **out, char *err, size_t err_size)
{
	return esc_store_open_mode(url, ESC_STORE_NORMAL, out, err, err_size);
}

int esc_store_open_mode(const char *url, enum esc_store_mode mode, struct esc_store **out,
			char *err, size_t err_size)
{
	const char *path = url;
	int rc = 0;

	*out = NULL;
	if (err && err_size)
		err[0] = '\0';
	if (!url) {
		rc = ESC_EINVAL;
		if (err && err_size)
			snprintf(err, err_size, "no store URL given");
		goto out;
	}
	/* libpq takes both URI prefixes; the URL goes to it whole. */
	if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://")) {
		if (mode == ESC_STORE_SCRATCH) {
			rc = ESC_EINVAL;
			if (err && err_size)
				snprintf(err, err_size, "a scratch store is a SQLite one");
			goto out;
		}
		rc = esc_pg_open_mode(url, mode == ESC_STORE_READ || mode == ESC_STORE_READER, out,
				      err, err_size);
		goto out;
	}
	if (has_prefix(url, "sqlite:"))
		path = url + strlen("sqlite:");
	if (!*path) {
		rc = ESC_EINVAL;
		if (err && err_size)
			snprintf(err, err_size, "the store URL \"%s\" names no file", url);
		goto out;
	}
	rc = esc_sqlite_open_mode(path, mode, out, err, err_size);
out:
	return rc;
}

void esc_store_close(struct esc_store *s)
{
	if (s)
		s->ops->close(s);
}

const char *esc_store_last_error(const struct esc_store *s)
{
	const char *msg = s && s->ops->last_error ? s->ops->last_error(s) : NULL;

	return msg ? msg : "";
}

static _Atomic int64_t retries;

int64_t esc_store_retries(void)
{
	return atomic_load_explicit(&retries, memory_order_relaxed);
}

void esc_store_retries_count(void)
{
	atomic_fetch_add_explicit(&retries, 1, memory_order_relaxed);
}

bool esc_store_wal_stats(const struct esc_store *s, int64_t *frames, int64_t *page_size)
{
	*frames = 0;
	*page_size = 0;
	if (!s || !s->ops->wal_stats)
		return false;
	s->ops->wal_stats(s, frames, page_size);
	return true;
}

int64_t esc_store_changes(const struct esc_store *s)
{
	return s && s->ops->changes ? s->ops->changes(s) : -2;
}
