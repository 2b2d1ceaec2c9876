/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104). Small, no allocation. */
#ifndef HB_SHA256_H
#define HB_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t h[8];
  uint64_t len;      /* bytes hashed so far */
  uint8_t buf[64];
  size_t used;       /* bytes in buf */
} hb_sha256_ctx;

void hb_sha256_init(hb_sha256_ctx *c);
void hb_sha256_update(hb_sha256_ctx *c, const uint8_t *p, size_t n);
void hb_sha256_final(hb_sha256_ctx *c, uint8_t out[32]);

/* A key prepared once (ipad/opad states), so each frame costs two compressions less. */
typedef struct {
  hb_sha256_ctx inner, outer;
} hb_hmac_key;

void hb_hmac_prepare(hb_hmac_key *k, const uint8_t *key, size_t keylen);
void hb_hmac_run(const hb_hmac_key *k, const uint8_t *msg, size_t n, uint8_t out[32]);
/* Constant-time comparison: 0 when equal. */
int hb_ct_diff(const uint8_t *a, const uint8_t *b, size_t n);
#endif
