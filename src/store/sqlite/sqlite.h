/* sqlite.h - the SQLite backend of the store interface (store.h). */
#ifndef ESC_STORE_SQLITE_H
#define ESC_STORE_SQLITE_H

#include <stddef.h>

#include "store/store.h"

/* Open (creating if needed) the SQLite store at path: WAL, synchronous
 * FULL, migrations applied, a background checkpointer started. Returns 0
 * with *out owned by the caller (release with esc_store_close()), or a
 * negative ESC_E* code with a message in err (err_size bytes, may be NULL).
 *
 * A store is used by one thread at a time; its statements are cached. */
int esc_sqlite_open(const char *path, struct esc_store **out, char *err, size_t err_size);
/* The same in a mode of store.h's: ESC_STORE_READ opens the file
 * read-only, migrates nothing and refuses another schema version;
 * ESC_STORE_SCRATCH makes no commit durable (replay's scratch store). */
int esc_sqlite_open_mode(const char *path, enum esc_store_mode mode, struct esc_store **out,
			 char *err, size_t err_size);

#endif
