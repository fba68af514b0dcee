/* pg.h - the PostgreSQL backend of the store interface (store.h). */
#ifndef ESC_STORE_PG_H
#define ESC_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

/* Open a store on one new connection to the PostgreSQL database at url, a
 * libpq URI ("postgresql://user@host:port/db?sslmode=require") handed to
 * libpq as it is: escrowd adds no parameters of its own. Applies the
 * migrations. Returns 0 with *out owned by the caller (release with
 * esc_store_close()), or a negative ESC_E* code with a message in err
 * (err_size bytes, may be NULL): libpq's own when the server cannot be
 * reached. The message never repeats the URL, which may hold a password.
 *
 * A store is one connection, used by one thread at a time; for several,
 * open several stores. The call that finds the connection lost fails
 * with ESC_EBUSY (a COMMIT's outcome is unknown then), and so does
 * everything in its transaction until rollback; the next call outside a
 * transaction connects again. */
int esc_pg_open(const char *url, struct esc_store **out, char *err, size_t err_size);
/* The same; read_only migrates nothing, refuses a database whose schema
 * is not this version's (ESC_EUNSUPPORTED) and makes every transaction of
 * the connection READ ONLY (store.h: ESC_STORE_READ). */
int esc_pg_open_mode(const char *url, bool read_only, struct esc_store **out, char *err,
		     size_t err_size);

/* The last error PostgreSQL reported on this store's connection, on one
 * line ("" when none), for logs: the verbs return only ESC_E* codes. */
const char *esc_pg_last_error(const struct esc_store *s);

#endif
