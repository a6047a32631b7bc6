/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

/*
 * What every file of vboxmem-vm uses instead of GLib: the worker links only
 * the C library, statically where it can, so that each VM costs its host as
 * little memory beside guest RAM as possible (bench/bench_memory.py).
 */

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VMM_N_ELEMENTS(array) (sizeof(array) / sizeof((array)[0]))
/* Each argument is evaluated once. */
#define VMM_MIN(a, b)                                                                              \
	__extension__({                                                                            \
		__typeof__(a) vmm_min_a_ = (a);                                                    \
		__typeof__(b) vmm_min_b_ = (b);                                                    \
		vmm_min_a_ < vmm_min_b_ ? vmm_min_a_ : vmm_min_b_;                                 \
	})
#define VMM_MAX(a, b)                                                                              \
	__extension__({                                                                            \
		__typeof__(a) vmm_max_a_ = (a);                                                    \
		__typeof__(b) vmm_max_b_ = (b);                                                    \
		vmm_max_a_ > vmm_max_b_ ? vmm_max_a_ : vmm_max_b_;                                 \
	})
#define VMM_PRINTF(format_index, args_index)                                                       \
	__attribute__((format(printf, format_index, args_index)))

/* Allocation never fails quietly: the worker aborts on out-of-memory, as GLib does. */
void *vmm_alloc0(size_t n_members, size_t member_size);
void *vmm_realloc_n(void *memory, size_t n_members, size_t member_size);
#define vmm_new0(Type, n) ((Type *)vmm_alloc0((n), sizeof(Type)))
#define vmm_renew(Type, memory, n) ((Type *)vmm_realloc_n((memory), (n), sizeof(Type)))

char *vmm_strdup(const char *string);
char *vmm_strndup(const char *string, size_t length);
char *vmm_strdup_printf(const char *format, ...) VMM_PRINTF(1, 2);
char *vmm_strdup_vprintf(const char *format, va_list args) VMM_PRINTF(1, 0);
int vmm_strcmp0(const char *a, const char *b);

/* Scoped cleanup, as g_autofree and g_autoptr. */
static inline void
vmm_autofree_cleanup(void *pointer)
{
	free(*(void **)pointer);
}
#define vmm_autofree __attribute__((cleanup(vmm_autofree_cleanup)))
#define VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(Type, func)                                                \
	static inline void Type##_autoptr_cleanup(Type **pointer)                                  \
	{                                                                                          \
		if (*pointer != NULL)                                                              \
			func(*pointer);                                                            \
	}
#define vmm_autoptr(Type) __attribute__((cleanup(Type##_autoptr_cleanup))) Type *

static inline void *
vmm_steal_pointer_impl(void *pointer_address)
{
	void **address = pointer_address;
	void *value = *address;

	*address = NULL;
	return value;
}
#define vmm_steal_pointer(pp) ((__typeof__(*(pp)))vmm_steal_pointer_impl(pp))
#define vmm_clear_pointer(pp, destroy)                                                             \
	do {                                                                                       \
		__typeof__(*(pp)) vmm_clear_value_ = *(pp);                                        \
		*(pp) = NULL;                                                                      \
		if (vmm_clear_value_ != NULL)                                                      \
			(destroy)(vmm_clear_value_);                                               \
	} while (0)

/* Stores @value little-endian at @base + @offset, which need not be aligned. */
static inline void
vmm_put_le16(uint8_t *base, unsigned offset, uint16_t value)
{
	value = htole16(value);
	memcpy(base + offset, &value, 2);
}

static inline void
vmm_put_le32(uint8_t *base, unsigned offset, uint32_t value)
{
	value = htole32(value);
	memcpy(base + offset, &value, 4);
}

/* Closes *fd if it is open and marks it closed. */
void vmm_clear_fd(int *fd);

/* Clocks in microseconds: monotonic, and since the Unix epoch. */
int64_t vmm_monotonic_us(void);
int64_t vmm_real_time_us(void);

/* A condition variable on the monotonic clock, and a wait on it until a vmm_monotonic_us() time. */
void vmm_cond_init_monotonic(pthread_cond_t *cond);
/* Returns false once @deadline_us has passed. */
bool vmm_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex, int64_t deadline_us);
