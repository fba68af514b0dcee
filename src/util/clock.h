/* clock.h - the injectable clock. Real time, or a manual clock that moves
 * only when told (tests, demos). Everything that needs "now" asks one. */
#ifndef ESC_CLOCK_H
#define ESC_CLOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct esc_clock {
	bool manual;
	_Atomic int64_t manual_now_ms;
};

/* The system's real time in milliseconds since the Unix epoch, UTC. */
int64_t esc_time_real_ms(void);
/* The machine's monotonic time (CLOCK_MONOTONIC) in microseconds: for
 * intervals and waits between threads, never for a time recorded. */
int64_t esc_time_monotonic_us(void);
/* A condition variable whose timed waits run on CLOCK_MONOTONIC, and the
 * deadline such a wait takes for the monotonic instant at_us. 0, or
 * pthread's error (the variable is then not made). */
int esc_cond_init_monotonic(pthread_cond_t *c);
struct timespec esc_monotonic_deadline(int64_t at_us);

void esc_clock_init_real(struct esc_clock *c);
/* A manual clock standing at start_ms. */
void esc_clock_init_manual(struct esc_clock *c, int64_t start_ms);
int64_t esc_clock_now(const struct esc_clock *c);
/* Sleep, in real time, before running again a transaction that lost to a
 * concurrent one: 0 .. min(2^attempt, 64) ms at random (capped exponential
 * backoff with full jitter), so that the writers that collided do not
 * collide again in step. Not the injectable clock: this is the machine's
 * time between two tries, which no deadline reads. */
void esc_backoff_sleep(int attempt);

/* Move a manual clock forward by ms (>= 0). Returns the new time, or -1 on
 * a real clock or a negative step. */
int64_t esc_clock_advance(struct esc_clock *c, int64_t ms);
/* Move a manual clock forward to at_ms if it stands before it; never
 * back. Returns its time, or -1 on a real clock. */
int64_t esc_clock_catch_up(struct esc_clock *c, int64_t at_ms);

#endif
