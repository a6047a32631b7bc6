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

static void
log_line(VmmLogLevel level, const char *format, va_list args)
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
