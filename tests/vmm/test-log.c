/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib.h>

#include "vmm-log.h"

typedef struct {
	guint n_lines;
	gchar *last;
} Lines;

static void
count_line(VmmLogLevel level, const char *message, void *user_data)
{
	Lines *lines = user_data;

	lines->n_lines++;
	g_free(lines->last);
	lines->last = g_strdup(message);
}

/* A guest that makes the worker warn in a loop fills no disk: lines are capped, then counted. */
static void
test_rate_limit(void)
{
	Lines lines = {0};

	vmm_log_set_handler(count_line, &lines);
	for (guint i = 0; i < 10000; i++)
		vmm_warning("virtio reset number %u", i);
	g_assert_cmpuint(lines.n_lines, <=, VMM_LOG_LINES_PER_SECOND * 2);
	g_assert_cmpuint(lines.n_lines, >=, 1);
	/* The next second, the count of what was left out comes first. */
	g_usleep(1100 * 1000);
	vmm_message("after the flood");
	g_assert_cmpstr(lines.last, ==, "after the flood");
	g_assert_cmpuint(lines.n_lines, <=, VMM_LOG_LINES_PER_SECOND * 2 + 2);
	vmm_log_set_handler(NULL, NULL);
	g_free(lines.last);
}

static void
suppressed_line(VmmLogLevel level, const char *message, void *user_data)
{
	GPtrArray *all = user_data;

	g_ptr_array_add(all, g_strdup(message));
}

static void
test_suppressed_count(void)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);

	g_usleep(1100 * 1000);
	vmm_log_set_handler(suppressed_line, all);
	for (guint i = 0; i < VMM_LOG_LINES_PER_SECOND + 5; i++)
		vmm_warning("line %u", i);
	g_usleep(1100 * 1000);
	vmm_message("next");
	vmm_log_set_handler(NULL, NULL);
	g_assert_cmpuint(all->len, ==, VMM_LOG_LINES_PER_SECOND + 2);
	g_assert_cmpstr(g_ptr_array_index(all, all->len - 2), ==, "5 more lines not logged");
	g_assert_cmpstr(g_ptr_array_index(all, all->len - 1), ==, "next");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/log/rate-limit", test_rate_limit);
	g_test_add_func("/log/suppressed-count", test_suppressed_count);
	return g_test_run();
}
