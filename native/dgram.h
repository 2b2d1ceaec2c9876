/*
 * dgram.h: datagrams to a local Unix socket, for syslog (/dev/log) and
 * systemd's NOTIFY_SOCKET. Bun has no AF_UNIX datagram sockets, hence these
 * two calls. Non-blocking: a full receiver drops the message (-EAGAIN) and
 * never stalls the daemon.
 */
#ifndef HB_DGRAM_H
#define HB_DGRAM_H
#include "hb.h"
#include <stdint.h>

/* A non-blocking, close-on-exec AF_UNIX SOCK_DGRAM socket: fd or -errno. */
HB_API int32_t hb_dgram_open(void);
/* Send buf[len] to the socket at path[pathlen] (no NUL needed; a leading '@' means the abstract
 * namespace, as in NOTIFY_SOCKET). Returns bytes sent or -errno. */
HB_API int32_t hb_dgram_send(int32_t fd, const uint8_t *path, int32_t pathlen, const uint8_t *buf, int32_t len);
HB_API int32_t hb_dgram_close(int32_t fd);
#endif
