/*
 * Flood sender for make bench (not part of hb): sends one datagram, given in hex, to
 * ADDR:PORT (broadcast allowed) RATE times a second for SECONDS, in batches of sendmmsg.
 *   flood HEX ADDR PORT RATE SECONDS    prints "sent N"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: flood HEX ADDR PORT RATE SECONDS\n"); return 2; }
  size_t hl = strlen(argv[1]) / 2;
  unsigned char *pkt = malloc(hl ? hl : 1);
  for (size_t i = 0; i < hl; i++) sscanf(argv[1] + 2 * i, "%2hhx", &pkt[i]);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3]))};
  if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) return 2;
  double rate = atof(argv[4]), secs = atof(argv[5]);
  int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  struct iovec iov = {.iov_base = pkt, .iov_len = hl};
  struct mmsghdr m[BATCH];
  memset(m, 0, sizeof m);
  for (int i = 0; i < BATCH; i++) {
    m[i].msg_hdr.msg_name = &to;
    m[i].msg_hdr.msg_namelen = sizeof to;
    m[i].msg_hdr.msg_iov = &iov;
    m[i].msg_hdr.msg_iovlen = 1;
  }
  long sent = 0;
  double t0 = now_s();
  for (long guard = 0; guard < 100000000; guard++) {
    double t = now_s() - t0;
    if (t >= secs) break;
    long due = (long)(t * rate) - sent;
    if (due <= 0) {
      struct timespec ns = {0, 200000};
      nanosleep(&ns, NULL);
      continue;
    }
    int k = due > BATCH ? BATCH : (int)due;
    int r = sendmmsg(fd, m, (unsigned)k, 0);
    if (r > 0) sent += r;
  }
  printf("sent %ld\n", sent);
  return 0;
}
