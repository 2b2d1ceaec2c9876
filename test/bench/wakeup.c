/* The floor for any daemon here: CPU accounted to a thread that only wakes every N ms (make bench prints it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  long ms = atol(argv[1]);
  int n = atoi(argv[2]);
  if (ms < 1 || n < 1) return 2;
  int fd = timerfd_create(CLOCK_MONOTONIC, 0);
  struct timespec every = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  struct itimerspec its = {.it_interval = every, .it_value = every};
  if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0) { perror("timerfd"); return 1; }
  for (int i = 0; i < n; i++) {
    uint64_t x;
    if (read(fd, &x, sizeof x) != sizeof x) return 1;
  }
  FILE *f = fopen("/proc/thread-self/schedstat", "r");
  unsigned long long run = 0;
  if (!f || fscanf(f, "%llu", &run) != 1) return 1;
  printf("every %ld ms: %.3f %% of a core, %.1f us per wake-up\n", ms, run / (n * ms * 1e6) * 100, run / 1e3 / n);
  return 0;
}
