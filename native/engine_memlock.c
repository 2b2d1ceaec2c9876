/* Memory the heartbeat thread touches, locked in RAM so that a host short of memory cannot page it out
 * and delay a beat by a disk read: the shim's own code and data (its loadable segments, not the rest of
 * the executable), the thread's stack and the engine's state. libc's few pages the thread calls into are
 * shared by every process and stay resident on their own. */
#include "engine_int.h"
#include <link.h>
#include <sys/mman.h>

struct lock_ctx {
  uintptr_t inside; /* an address in our own object */
  int64_t locked;   /* bytes */
  int err;          /* the last errno of a refused mlock */
};

static void lock_range(struct lock_ctx *c, uintptr_t start, uintptr_t end) {
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  start &= ~(page - 1);
  end = (end + page - 1) & ~(page - 1);
  if (mlock((void *)start, end - start) == 0) c->locked += (int64_t)(end - start);
  else c->err = errno;
}

/* dl_iterate_phdr callback: lock every PT_LOAD segment of the object that holds c->inside. */
static int lock_own_segments(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct lock_ctx *c = data;
  int ours = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t s = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && c->inside >= s && c->inside < s + ph->p_memsz) ours = 1;
  }
  if (!ours) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t s = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD) lock_range(c, s, s + ph->p_memsz);
  }
  return 1;
}

HB_API int64_t hb_engine_lock_memory(hb_engine *e) {
  if (!e || !e->running) return -EINVAL;
  struct lock_ctx c = {.inside = (uintptr_t)&lock_range};
  dl_iterate_phdr(lock_own_segments, &c);
  lock_range(&c, (uintptr_t)e, (uintptr_t)e + sizeof *e);
  lock_range(&c, (uintptr_t)e->stack, (uintptr_t)e->stack + HB_STACK_SIZE);
  return c.err ? -c.err : c.locked;
}
