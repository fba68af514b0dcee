/* log.h - the daemon's log: one JSON object per line on stderr (issue 18).
 *
 * Every line a running daemon writes is one object, written with one
 * write(2) under a lock, so that lines of several threads never mix:
 *
 *     {"time":"2026-12-03T13:24:30.123Z","level":"info","msg":"listening on
 *      http://127.0.0.1:8080","url":"http://127.0.0.1:8080"}
 *
 * (one line). "time" is the machine's real time in RFC 3339 UTC with
 * milliseconds: a log tells when things happened to the process, not the
 * escrow's time, which a manual clock may move. "level" is debug, info,
 * warn or error, or fatal for a bug's last line (util/bug.h), which is
 * always written. "msg" says what happened in words; the fields after it
 * carry the values a program reads (a request's status, an error's text).
 *
 * Strings are escaped as JSON wants ('"', '\\', control characters), and
 * bytes that are not UTF-8 become U+FFFD: a field may come from a client.
 * A line is at most ESC_LOG_LINE_MAX bytes: a longer value is cut, and
 * "truncated":true says so.
 *
 * Usage:
 *
 *     esc_log(ESC_LOG_WARN, "store failure", ESC_LOG_STR("error", message),
 *             ESC_LOG_INT("commands", n));
 */
#ifndef ESC_LOG_H
#define ESC_LOG_H

#include <stdbool.h>
#include <stdint.h>

#define ESC_LOG_LINE_MAX 8192

enum esc_log_level {
	ESC_LOG_DEBUG,
	ESC_LOG_INFO,
	ESC_LOG_WARN,
	ESC_LOG_ERROR,
	ESC_LOG_FATAL, /* a bug's last line: never filtered */
};

/* One field of a line: a string (NULL leaves the field out), a whole
 * number, a real number or a boolean. Use the ESC_LOG_* makers. */
struct esc_log_field {
	const char *key;
	char kind; /* 's', 'i', 'f', 'b'; 0 ends the list */
	const char *str;
	int64_t num;
	double real;
};

#define ESC_LOG_STR(k, v)  ((struct esc_log_field){.key = (k), .kind = 's', .str = (v)})
#define ESC_LOG_INT(k, v)  ((struct esc_log_field){.key = (k), .kind = 'i', .num = (int64_t)(v)})
#define ESC_LOG_REAL(k, v) ((struct esc_log_field){.key = (k), .kind = 'f', .real = (double)(v)})
#define ESC_LOG_BOOL(k, v) ((struct esc_log_field){.key = (k), .kind = 'b', .num = !!(v)})

/* Write one line at level with msg and the fields given, unless level is
 * below the level set (esc_log_set_level; info at first). */
#define esc_log(level, msg, ...)                                                                   \
	esc_log_fields((level), (msg),                                                             \
		       (const struct esc_log_field[]){{.kind = 0}, __VA_ARGS__} + 1,               \
		       sizeof((const struct esc_log_field[]){{.kind = 0}, __VA_ARGS__}) /          \
				       sizeof(struct esc_log_field) -                              \
			       1)

/* The same with n fields at fields. */
void esc_log_fields(enum esc_log_level level, const char *msg, const struct esc_log_field *fields,
		    unsigned long n);

/* Whether a line at level would be written. */
bool esc_log_enabled(enum esc_log_level level);

/* The least level written from now on, for every thread. */
void esc_log_set_level(enum esc_log_level level);

/* "debug", "info", "warn" or "error" into *out: 0, or -1 for another
 * word. */
int esc_log_level_parse(const char *name, enum esc_log_level *out);

/* The name of a level ("warn"). */
const char *esc_log_level_name(enum esc_log_level level);

/* A background task's run of failures (the webhook worker's rounds, the
 * deadline worker's firing): logged at its first failure and at its end,
 * not at each try, so that a store that does not answer for a minute is
 * two lines, not hundreds. Zeroed, no run is going on; one thread uses
 * it. */
struct esc_log_run {
	int64_t failures; /* tries failed in this run; 0: none */
	int64_t since_us; /* the monotonic time of its first failure */
};

/* A try failed: at a run's first failure an error line "TASK: WHAT
 * failed" with error and store_said (what the store said; NULL or "":
 * left out) and a word that the next failures are counted; later ones
 * only counted. */
void esc_log_run_failed(struct esc_log_run *r, const char *task, const char *what,
			const char *error, const char *store_said);

/* A try worked: it ends the run, if one was going on, with an info line
 * "TASK: working again" that says how many tries failed over how many
 * seconds. */
void esc_log_run_ok(struct esc_log_run *r, const char *task);

/* Build the line at level into out (at most ESC_LOG_LINE_MAX bytes, the
 * '\n' included, and a NUL after it) without writing it; its length.
 * For the tests, and for esc_log_fields. */
unsigned long esc_log_format(char *out, enum esc_log_level level, int64_t time_ms, const char *msg,
			     const struct esc_log_field *fields, unsigned long n);

#endif
