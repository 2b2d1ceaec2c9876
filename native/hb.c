/* Entry points that are not part of the heartbeat engine. */
#include "compat.h"
#include "hb.h"
#include "sha256.h"
#include <errno.h>

HB_API int32_t hb_abi_version(void) { return HB_ABI_VERSION; }

HB_API int32_t hb_hmac_sha256(const uint8_t *key, int32_t keylen, const uint8_t *msg, int32_t msglen, uint8_t *out) {
  if (keylen < 0 || msglen < 0 || (!key && keylen) || (!msg && msglen) || !out) return -EINVAL;
  hb_hmac_key k;
  hb_hmac_prepare(&k, key, (size_t)keylen);
  hb_hmac_run(&k, msg, (size_t)msglen, out);
  return 0;
}
