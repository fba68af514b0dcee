/* openapi.h - the OpenAPI 3.1 document of the API (SPEC §7), served at
 * GET /v1/openapi.json. It is src/http/openapi.json, with the project's
 * version in info.version, embedded at build time (tools/embed.c). It
 * describes esc_routes[] (routes.c) path by path and method by method;
 * tests/unit/test_openapi.c keeps the two in step, and
 * tests/web/openapi.test.mjs checks it against the OpenAPI 3.1 schema. */
#ifndef ESC_HTTP_OPENAPI_H
#define ESC_HTTP_OPENAPI_H

/* The document as JSON text, NUL-terminated. */
extern const char esc_openapi_json[];

#endif
