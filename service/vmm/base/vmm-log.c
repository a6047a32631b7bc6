/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "vmm-log.h"

static VmmLogHandler log_handler;
static void *log_handler_data;

void
vmm_log_set_handler(VmmLogHandler handler, void *user_data)
{
	log_handler = handler;
	log_handler_data = user_data;
}

static const char *const level_prefixes[] = {"", "warning: ", "debug: "};

/*
 * A guest can make the worker warn at will (a virtio reset, a bad buffer):
 * at most VMM_LOG_LINES_PER_SECOND lines a second are written, the rest are
 * counted and reported as one line once the next second starts.
 */
static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t window_start_us;
static unsigned lines_in_window;
static unsigned suppressed;

static void write_line(VmmLogLevel level, const char *format, ...) VMM_PRINTF(2, 3);

/* Returns whether a line may be written now, and how many were dropped before it. */
static bool
take_rate(unsigned *dropped)
{
	int64_t now = vmm_monotonic_us();
	bool allowed;

	pthread_mutex_lock(&rate_lock);
	*dropped = 0;
	if (now - window_start_us >= 1000000) {
		window_start_us = now;
		lines_in_window = 0;
		*dropped = suppressed;
		suppressed = 0;
	}
	allowed = lines_in_window < VMM_LOG_LINES_PER_SECOND;
	if (allowed)
		lines_in_window++;
	else
		suppressed++;
	pthread_mutex_unlock(&rate_lock);
	return allowed;
}

static void
emit_line(VmmLogLevel level, const char *format, va_list args)
{
	char line[1024];
	int prefix;

	if (log_handler != NULL) {
		vsnprintf(line, sizeof(line), format, args);
		log_handler(level, line, log_handler_data);
		return;
	}
	prefix = snprintf(line, sizeof(line), "vboxmem-vm: %s", level_prefixes[level]);
	int length = prefix + vsnprintf(line + prefix, sizeof(line) - prefix - 1, format, args);

	if (length > (int)sizeof(line) - 2)
		length = sizeof(line) - 2;
	line[length++] = '\n';
	/* One write per line, so that lines of different threads never interleave. */
	if (write(STDERR_FILENO, line, length) < 0)
		return;
}

static void
write_line(VmmLogLevel level, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	emit_line(level, format, args);
	va_end(args);
}

static void
log_line(VmmLogLevel level, const char *format, va_list args)
{
	unsigned dropped;
	bool allowed = take_rate(&dropped);

	if (dropped > 0)
		write_line(VMM_LOG_WARNING, "%u more lines not logged", dropped);
	if (allowed)
		emit_line(level, format, args);
}

static bool
vmm_debug_enabled(void)
{
	static int enabled = -1;

	if (__atomic_load_n(&enabled, __ATOMIC_RELAXED) < 0) {
		const char *value = getenv("VBOXMEM_VM_DEBUG");
		const char *domains = getenv("G_MESSAGES_DEBUG");
		bool on = (value != NULL && *value != '\0' && strcmp(value, "0") != 0) ||
			  (domains != NULL && (strstr(domains, "all") != NULL ||
					       strstr(domains, "vboxmem-vm") != NULL));

		__atomic_store_n(&enabled, on, __ATOMIC_RELAXED);
	}
	return __atomic_load_n(&enabled, __ATOMIC_RELAXED) > 0;
}

#define DEFINE_LOG_FUNCTION(name, level, condition)                                                \
	void name(const char *format, ...)                                                         \
	{                                                                                          \
		va_list args;                                                                      \
                                                                                                   \
		if (!(condition))                                                                  \
			return;                                                                    \
		va_start(args, format);                                                            \
		log_line(level, format, args);                                                     \
		va_end(args);                                                                      \
	}

DEFINE_LOG_FUNCTION(vmm_message, VMM_LOG_MESSAGE, true)
DEFINE_LOG_FUNCTION(vmm_warning, VMM_LOG_WARNING, true)
DEFINE_LOG_FUNCTION(vmm_debug, VMM_LOG_DEBUG, vmm_debug_enabled())

void
vmm_fatal(const char *format, ...)
{
	va_list args;

	char line[1024];

	va_start(args, format);
	vsnprintf(line, sizeof(line), format, args);
	va_end(args);
	fprintf(stderr, "vboxmem-vm: fatal: %s\n", line);
	abort();
}
