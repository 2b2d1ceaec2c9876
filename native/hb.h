/*
 * hb.h: the shim's whole interface to TypeScript (src/native/shim.ts is its
 * only importer). Policy-free: integers and buffers in, 0 or a count out,
 * -errno on failure. Every exported symbol is marked HB_API.
 */
#ifndef HB_H
#define HB_H
#include <stdint.h>

#define HB_API __attribute__((visibility("default")))
#define HB_ABI_VERSION 7

HB_API int32_t hb_abi_version(void);
/* HMAC-SHA256 of msg under key into out[32]; exported for the RFC 4231 tests. */
HB_API int32_t hb_hmac_sha256(const uint8_t *key, int32_t keylen, const uint8_t *msg, int32_t msglen, uint8_t *out);
/* Run this executable again (execv of /proc/self/exe with the arguments in /proc/self/cmdline) with
 * name=value added to the environment. Returns only on failure: -errno (the environment as before). */
HB_API int32_t hb_reexec_with(const char *name, const char *value);
#endif
