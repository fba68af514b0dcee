/* bug.h - one way to fail on a bug: say where and why, then abort.
 *
 * ESC_BUG(fmt, ...) always aborts. ESC_ASSERT(cond, fmt, ...) aborts when
 * cond is false. Both write one line to the log (stderr, util/log.h), at
 * level fatal, whose msg is
 *
 *     BUG at src/core/order.c:383 in add_transfer: <message>
 *
 * then abort(), in every build: NDEBUG does not remove them, unlike
 * assert(). Keep the condition cheap and free of side effects.
 *
 * When to use which (Git's BUG versus error; TigerBeetle's assertions):
 *
 *   - ESC_ASSERT / ESC_BUG: our own code broke a promise. A caller
 *     breaking a documented precondition (a NULL where none is allowed),
 *     a table outgrowing its fixed array, a switch reaching a case that
 *     cannot happen, the order machine producing (or the store handing
 *     back) an order that breaks the state diagram's invariants
 *     (esc_order_check). Going on would move money on wrong data, so the
 *     process stops and the supervisor restarts it.
 *   - Return an ESC_E* code: anything the world outside our code can
 *     cause. A client's input is validated and refused (ESC_EINVAL, ...);
 *     the store failing (I/O, a full disk, a lost connection) is ESC_EIO,
 *     ESC_EBUSY or ESC_ERETRY; a row that does not parse (an unknown enum
 *     name) is a data problem, ESC_EIO; memory running out is ESC_ENOMEM.
 *     None of these is ever a bug, however odd the input.
 *
 * Rule of thumb: if a test could provoke it through the API or by
 * breaking the store, it is an error code; if only a change to our own
 * code could, it is an assertion. */
#ifndef ESC_BUG_H
#define ESC_BUG_H

/* Logs "BUG at file:line in func: message" (and the failed condition when
 * cond is not NULL) as a fatal line (util/log.h) and aborts. Use the macros. */
_Noreturn void esc_bug_at(const char *file, int line, const char *func, const char *cond,
			  const char *fmt, ...) __attribute__((format(printf, 5, 6), cold));

#define ESC_BUG(...) esc_bug_at(__FILE__, __LINE__, __func__, NULL, __VA_ARGS__)

#define ESC_ASSERT(cond, ...)                                                                      \
	(__builtin_expect(!!(cond), 1)                                                             \
		 ? (void)0                                                                         \
		 : esc_bug_at(__FILE__, __LINE__, __func__, #cond, __VA_ARGS__))

#endif
