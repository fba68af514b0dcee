/* demo.h - a small marketplace, built by the engine's own commands. */
#ifndef ESC_DEMO_H
#define ESC_DEMO_H

#include <stdio.h>

#include "engine/engine.h"

#define ESC_DEMO_PASSWORD "escrowd-demo"

/* Create the demo's users and orders (one or more in every state) through
 * esc_engine_exec, and print how to sign in to out. ESC_EDUPLICATE when
 * the store holds the demo already (out then gets the sign-in details
 * only). */
int esc_demo_fill(struct esc_engine *e, FILE *out);

#endif
