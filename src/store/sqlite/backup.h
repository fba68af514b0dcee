/* backup.h - copy a live SQLite store (escrowd backup). */
#ifndef ESC_STORE_SQLITE_BACKUP_H
#define ESC_STORE_SQLITE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

struct esc_backup_report {
	int64_t pages_copied, pages_total, page_size;
};

/* Called after each step of the copy with the pages copied so far. */
typedef void (*esc_backup_progress)(void *arg, int64_t copied, int64_t total);

/* Copy the SQLite store at path, which a daemon may be serving, to the new
 * file `to` (which must not exist): the store as it stood when the copy
 * began, whatever is committed meanwhile, checked by PRAGMA
 * integrity_check and synced before it takes its name. Returns 0, or an
 * ESC_E* code with a message in err: ESC_ENOTFOUND (no store at path),
 * ESC_EDUPLICATE (`to` exists), ESC_EIO. Nothing is left at `to` on a
 * failure. */
int esc_sqlite_backup(const char *path, const char *to, esc_backup_progress progress, void *arg,
		      struct esc_backup_report *rep, char *err, size_t err_size);

#endif
