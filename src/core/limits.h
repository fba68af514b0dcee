/* limits.h - every limit of the API's contract, in one place: what a
 * request may carry, what an order may hold, what a configuration may
 * list. The core headers include it; the other layers take their limits
 * from here too (the OpenAPI document states the same numbers).
 *
 * "bytes" counts UTF-8 bytes without the terminating NUL, unless it says
 * "size" (a buffer's size, NUL included). */
#ifndef ESC_LIMITS_H
#define ESC_LIMITS_H

#include <stdint.h>

/* Money (SPEC §4) */

/* The largest amount escrowd accepts anywhere: 10^15 minor units, so that
 * sums of many amounts stay far from INT64_MAX. Bounds an item's
 * unit_price, an order's total, every amount of a request. */
#define ESC_AMOUNT_MAX INT64_C(1000000000000000)

/* Orders (SPEC §2, §7 POST /v1/orders) */

#define ESC_ITEMS_MAX    100     /* items on one order */
#define ESC_QUANTITY_MAX 1000000 /* an item's quantity, from 1 */
#define ESC_TITLE_MAX    200     /* an item's title, bytes */
/* An item's image_url, bytes: an absolute URL under one of the
 * configuration's http.image_origins (issue 17). */
#define ESC_IMAGE_URL_MAX 300
#define ESC_REFUNDS_MAX  8       /* refunds on one order (SPEC §4) */

/* Text a person writes (SPEC §2, §5): a cancellation's comment, a
 * rejection's message, a dispute's description, an offer's message, an
 * arbiter's reason, a message in the order's conversation. Bytes. */
#define ESC_TEXT_MAX 1000

/* A shipment's (SPEC §2 ship, §5 return-shipment): bytes. */
#define ESC_CARRIER_MAX  64
#define ESC_TRACKING_MAX 64

/* Cancellation reasons (SPEC §3), from the configuration. */
#define ESC_REASON_CODE_MAX  32  /* a code's size: at most 31 bytes of a-z, 0-9, _ */
#define ESC_REASON_LABEL_MAX 128 /* a label's size: at most 127 bytes */
#define ESC_REASONS_MAX      16  /* reasons in the table */

/* Evidence (SPEC §5): JPEG, PNG or PDF, the type told by the bytes. */
#define ESC_EVIDENCE_BYTES_MAX (5 * 1024 * 1024) /* one file: 5 MiB */
#define ESC_EVIDENCE_MAX       10                /* files on one dispute */
#define ESC_FILENAME_MAX       100               /* an evidence file's name as uploaded, bytes */

/* Users (SPEC §7 POST /v1/users): bytes. */
#define ESC_NAME_MAX  128
#define ESC_EMAIL_MAX 254

/* An Idempotency-Key header (SPEC §7): 1 to this many bytes. */
#define ESC_IDEM_KEY_MAX 255

/* What the daemon writes back is bounded too. */

/* The arbiter's recommendation (SPEC §5; core/recommend.h): at most this
 * many reasons of this size each, and kept with the decision as one text
 * of at most ESC_RECOMMENDATION_MAX bytes, one reason a line. */
#define ESC_RECOMMEND_REASONS_MAX 6
#define ESC_RECOMMEND_REASON_SIZE 200
#define ESC_RECOMMENDATION_MAX    1200

#endif
