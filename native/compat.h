/*
 * compat.h: keep the shim loadable on glibc 2.17 (what Bun itself needs).
 *
 * glibc 2.34 merged libpthread into libc and gave pthread_create/join new
 * default versions (GLIBC_2.34). A shim linked on Debian 12 would therefore
 * refuse to load on older systems. The old versions still exist in libc.so.6
 * as compat symbols with the same behaviour, so the shim calls them through
 * local aliases bound to the old version. test/unit/shim-abi.test.ts checks
 * the built shim with objdump -T: no GLIBC_x.y above 2.17.
 */
#ifndef HB_COMPAT_H
#define HB_COMPAT_H
#include <pthread.h>
#if defined(__x86_64__) && defined(__GLIBC__)
__asm__(".symver hb_pthread_create,pthread_create@GLIBC_2.2.5");
__asm__(".symver hb_pthread_join,pthread_join@GLIBC_2.2.5");
__asm__(".symver hb_pthread_attr_setstack,pthread_attr_setstack@GLIBC_2.2.5");
int hb_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int hb_pthread_join(pthread_t t, void **ret);
int hb_pthread_attr_setstack(pthread_attr_t *a, void *stack, size_t size);
#elif defined(__aarch64__) && defined(__GLIBC__)
/* arm64 glibc starts at 2.17: its first versions are the old ones */
__asm__(".symver hb_pthread_create,pthread_create@GLIBC_2.17");
__asm__(".symver hb_pthread_join,pthread_join@GLIBC_2.17");
__asm__(".symver hb_pthread_attr_setstack,pthread_attr_setstack@GLIBC_2.17");
int hb_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int hb_pthread_join(pthread_t t, void **ret);
int hb_pthread_attr_setstack(pthread_attr_t *a, void *stack, size_t size);
#else
#define hb_pthread_create pthread_create
#define hb_pthread_join pthread_join
#define hb_pthread_attr_setstack pthread_attr_setstack
#endif
#endif
