/* support.h - helpers shared by the cmocka tests: temporary directories
 * holding real SQLite files, removed when the test ends. */
#ifndef ESC_TEST_SUPPORT_H
#define ESC_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Make a new directory under $TMPDIR (or /tmp) and write its path into
 * out. Aborts the test on failure. */
void esc_test_tmpdir(char *out, size_t size);
/* Remove a directory made by esc_test_tmpdir and everything in it. */
void esc_test_rmdir(const char *dir);
/* out = dir + "/" + name. */
void esc_test_path(char *out, size_t size, const char *dir, const char *name);

/* A fixed start for manual clocks: 2026-01-05T12:00:00Z. */
#define ESC_TEST_T0 INT64_C(1767614400000)

#endif
