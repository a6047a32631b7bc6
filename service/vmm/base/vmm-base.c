/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "vmm-base.h"
#include "vmm-log.h"

static void *
check_allocation(void *memory, size_t n_members, size_t member_size)
{
	if (memory == NULL && n_members != 0 && member_size != 0)
		vmm_fatal("out of memory allocating %zu × %zu bytes", n_members, member_size);
	return memory;
}

void *
vmm_alloc0(size_t n_members, size_t member_size)
{
	return check_allocation(calloc(n_members, member_size), n_members, member_size);
}

void *
vmm_realloc_n(void *memory, size_t n_members, size_t member_size)
{
	size_t bytes;

	if (__builtin_mul_overflow(n_members, member_size, &bytes))
		vmm_fatal("allocation of %zu × %zu bytes overflows", n_members, member_size);
	if (bytes == 0) {
		free(memory);
		return NULL;
	}
	return check_allocation(realloc(memory, bytes), n_members, member_size);
}

char *
vmm_strdup(const char *string)
{
	return string != NULL ? check_allocation(strdup(string), 1, strlen(string) + 1) : NULL;
}

char *
vmm_strndup(const char *string, size_t length)
{
	return string != NULL ? check_allocation(strndup(string, length), 1, length + 1) : NULL;
}

char *
vmm_strdup_vprintf(const char *format, va_list args)
{
	char *result = NULL;

	if (vasprintf(&result, format, args) < 0)
		vmm_fatal("out of memory formatting a string");
	return result;
}

char *
vmm_strdup_printf(const char *format, ...)
{
	va_list args;
	char *result;

	va_start(args, format);
	result = vmm_strdup_vprintf(format, args);
	va_end(args);
	return result;
}

int
vmm_strcmp0(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b ? 0 : (a == NULL ? -1 : 1);
	return strcmp(a, b);
}

void
vmm_clear_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int64_t
vmm_monotonic_us(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

int64_t
vmm_real_time_us(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

void
vmm_cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

bool
vmm_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex, int64_t deadline_us)
{
	struct timespec deadline = {deadline_us / 1000000, (deadline_us % 1000000) * 1000};

	return pthread_cond_timedwait(cond, mutex, &deadline) != ETIMEDOUT;
}
