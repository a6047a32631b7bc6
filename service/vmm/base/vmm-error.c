/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vmm-error.h"
#include "vmm-log.h"

static VmmError *
error_new(int code, char *message)
{
	VmmError *error = vmm_new0(VmmError, 1);

	error->code = code;
	error->message = message;
	return error;
}

static void
set_error(VmmError **error, VmmError *value)
{
	if (error == NULL) {
		vmm_error_free(value);
		return;
	}
	if (*error != NULL) {
		vmm_warning("an error was set over another one: %s", value->message);
		vmm_error_free(value);
		return;
	}
	*error = value;
}

bool
vmm_set_error_valist(VmmError **error, int code, const char *format, va_list args)
{
	set_error(error, error_new(code, vmm_strdup_vprintf(format, args)));
	return false;
}

bool
vmm_set_error(VmmError **error, int code, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	vmm_set_error_valist(error, code, format, args);
	va_end(args);
	return false;
}

bool
vmm_set_error_literal(VmmError **error, int code, const char *message)
{
	set_error(error, error_new(code, vmm_strdup(message)));
	return false;
}

bool
vmm_error_from_errno(VmmError **error, const char *what)
{
	int saved_errno = errno;

	return vmm_set_error(error, saved_errno, "%s failed: %s", what, strerror(saved_errno));
}

void
vmm_prefix_error(VmmError **error, const char *format, ...)
{
	va_list args;
	char *prefix;
	char *message;

	if (error == NULL || *error == NULL)
		return;
	va_start(args, format);
	prefix = vmm_strdup_vprintf(format, args);
	va_end(args);
	message = vmm_strdup_printf("%s: %s", prefix, (*error)->message);
	free(prefix);
	free((*error)->message);
	(*error)->message = message;
}

void
vmm_error_free(VmmError *error)
{
	if (error == NULL)
		return;
	free(error->message);
	free(error);
}

void
vmm_clear_error(VmmError **error)
{
	vmm_clear_pointer(error, vmm_error_free);
}
