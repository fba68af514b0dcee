/* id.h - object ids: a prefix, the creation time, and randomness.
 *
 * "ord_" + 10 base-32 characters of the time in milliseconds + 10 of
 * random bits. Ids of one kind sort by creation time, so new rows append
 * at the end of their b-trees and a list newest first is the order of
 * creation. Within one millisecond a thread's ids still rise: the random
 * part is the last one's plus a random step (as ULID's monotonic ids). */
#ifndef ESC_ID_H
#define ESC_ID_H

#include <stdint.h>

/* The size of an id buffer, NUL included: "ord_" + 20 characters, with
 * room for a suffix ("-r1" of a refund's id). */
#define ESC_ID_SIZE 48

/* Write a new id with `prefix` (at most 8 bytes, e.g. "ord_") for time
 * now_ms into out. */
void esc_id_new(char out[ESC_ID_SIZE], const char *prefix, int64_t now_ms);

#endif
