/* backup.c - a live SQLite store copied with SQLite's online backup API
 * (escrowd backup).
 *
 * The source is opened read-only on its own connection, which holds one
 * read transaction for the whole copy: in WAL mode the daemon goes on
 * committing beside it, and the copy is the store as it stood when the
 * transaction began. (A backup that took the source's lock afresh at each
 * step would start over whenever the daemon committed in between, which
 * under load is always.) The pages go to FILE.partial, which is checked
 * with PRAGMA integrity_check, synced and only then renamed to FILE. */
#include "store/sqlite/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"

#define PAGES_PER_STEP 1024
#define BUSY_WAIT_MS   5000

static void say(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	if (!err || !err_size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* fsync a file, or the directory that holds a path. */
static int sync_path(const char *path, bool parent)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	const char *target = parent ? dirname(buf) : buf;
	int fd = open(target, O_RDONLY | (parent ? O_DIRECTORY : 0));
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* "ok", or the first problem integrity_check names, into out. */
static int integrity(sqlite3 *db, char *out, size_t size)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
	snprintf(out, size, "integrity_check gave no answer");
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return strcmp(out, "ok") ? ESC_EIO : 0;
}

int esc_sqlite_backup(const char *path, const char *to, esc_backup_progress progress, void *arg,
		      struct esc_backup_report *rep, char *err, size_t err_size)
{
	char partial[4096], why[256];
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	struct stat st;
	int rc = 0, step;
	memset(rep, 0, sizeof *rep);
	if (stat(path, &st)) {
		say(err, err_size, "%s: %s", path, strerror(errno));
		return ESC_ENOTFOUND;
	}
	if (!access(to, F_OK)) {
		say(err, err_size, "%s exists already: name a new file, or remove it first", to);
		return ESC_EDUPLICATE;
	}
	if ((size_t)snprintf(partial, sizeof partial, "%s.partial", to) >= sizeof partial) {
		say(err, err_size, "%s: the path is too long", to);
		return ESC_EINVAL;
	}
	unlink(partial); /* a copy an earlier backup left unfinished */
	if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		say(err, err_size, "%s: %s", path, src ? sqlite3_errmsg(src) : "cannot open it");
		rc = ESC_EIO;
		goto out;
	}
	sqlite3_busy_timeout(src, BUSY_WAIT_MS);
	/* The snapshot: one read transaction, held until the copy is made. */
	if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		say(err, err_size, "%s: %s", path, sqlite3_errmsg(src));
		rc = ESC_EIO;
		goto out;
	}
	if (sqlite3_open_v2(partial, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		say(err, err_size, "%s: %s", partial,
		    dst ? sqlite3_errmsg(dst) : "cannot create it");
		rc = ESC_EIO;
		goto out;
	}
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		say(err, err_size, "%s: %s", partial, sqlite3_errmsg(dst));
		rc = ESC_EIO;
		goto out;
	}
	do {
		step = sqlite3_backup_step(b, PAGES_PER_STEP);
		if (step == SQLITE_BUSY || step == SQLITE_LOCKED) {
			sqlite3_sleep(10);
			continue;
		}
		rep->pages_total = sqlite3_backup_pagecount(b);
		rep->pages_copied = rep->pages_total - sqlite3_backup_remaining(b);
		if (progress && (step == SQLITE_OK || step == SQLITE_DONE))
			progress(arg, rep->pages_copied, rep->pages_total);
	} while (step == SQLITE_OK || step == SQLITE_BUSY || step == SQLITE_LOCKED);
	sqlite3_backup_finish(b);
	if (step != SQLITE_DONE) {
		say(err, err_size, "copying %s: %s", path, sqlite3_errstr(step));
		rc = ESC_EIO;
		goto out;
	}
	sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	{
		sqlite3_stmt *ps = NULL;
		if (sqlite3_prepare_v2(dst, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK &&
		    sqlite3_step(ps) == SQLITE_ROW)
			rep->page_size = sqlite3_column_int64(ps, 0);
		sqlite3_finalize(ps);
	}
	rc = integrity(dst, why, sizeof why);
	if (rc) {
		say(err, err_size, "the copy fails integrity_check: %s", why);
		goto out;
	}
	/* The copy is a WAL database like its source: fold what the copy
	 * wrote into its file, so that FILE alone is the whole store. */
	sqlite3_exec(dst, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(dst);
	dst = NULL;
	if (sync_path(partial, false) || rename(partial, to) || sync_path(to, true)) {
		say(err, err_size, "%s: %s", to, strerror(errno));
		rc = ESC_EIO;
		goto out;
	}
out:
	if (dst)
		sqlite3_close(dst);
	if (src)
		sqlite3_close(src);
	if (rc)
		unlink(partial);
	return rc;
}
