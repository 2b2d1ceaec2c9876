/*
 * Test tool (never shipped): capture and send raw Ethernet frames, as an
 * attacker on the LAN would, to prove that forged and replayed heartbeats are
 * dropped. Built by the tests with gcc.
 *
 *   rawpkt capture IFACE COUNT TIMEOUT_MS   print hb frames (EtherType 0x88B5, or UDP port 694) as hex lines
 *   rawpkt send IFACE                       send each hex line of stdin as one frame
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int ifindex = (int)if_nametoindex(argv[2]);
  if (!ifindex) { perror("if_nametoindex"); return 1; }
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) { perror("socket"); return 1; }
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex};
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); return 1; }
  if (!strcmp(argv[1], "capture") && argc == 5) {
    int want = atoi(argv[3]), got = 0;
    long long deadline = now_ms() + atoll(argv[4]);
    unsigned char buf[2048];
    while (got < want && now_ms() < deadline) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, (int)(deadline - now_ms())) <= 0) continue;
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n < 14) continue;
      int type = buf[12] << 8 | buf[13];
      int ours = type == 0x88B5 || (type == 0x0800 && n >= 42 && buf[23] == 17 && (buf[36] << 8 | buf[37]) == 694);
      if (!ours) continue;
      for (ssize_t i = 0; i < n; i++) printf("%02x", buf[i]);
      printf("\n");
      fflush(stdout);
      got++;
    }
    return got == want ? 0 : 3;
  }
  if (!strcmp(argv[1], "send")) {
    char line[8192];
    unsigned char frame[4096];
    int sent = 0;
    while (fgets(line, sizeof line, stdin)) {
      size_t len = strcspn(line, "\r\n") / 2;
      if (len < 14 || len > sizeof frame) continue;
      for (size_t i = 0; i < len; i++) sscanf(line + 2 * i, "%2hhx", &frame[i]);
      if (send(fd, frame, len, 0) == (ssize_t)len) sent++;
      usleep(2000);
    }
    printf("sent %d\n", sent);
    return 0;
  }
  return 2;
}
