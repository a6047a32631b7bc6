/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vmctl.h"

/* metrics list, query and collect, as VBoxManage metrics */

/* VirtualBox's metric names as vboxmemd samples them */
static const struct {
	const gchar *name;
	const gchar *description;
} vmctl_metrics[] = {
	{"Guest/RAM/Usage/Total", N_("Memory the guest sees")},
	{"Guest/RAM/Usage/Free", N_("Free memory of the guest")},
	{"Guest/RAM/Usage/Balloon", N_("Memory the balloon took from the guest")},
	{"Guest/RAM/Usage/Shared", N_("Guest memory mapped from shared Page Fusion pages")},
	{"Guest/RAM/Usage/Cache", N_("Guest memory in caches the guest can drop")},
	{"Guest/RAM/Usage/Hinted", N_("Guest memory the guest agent hinted as shareable")},
	{"RAM/VMM/Used", N_("Host memory used by the workers of running machines")},
	{"RAM/VMM/Free", N_("Memory pool still free for starting machines")},
	{"RAM/VMM/Ballooned", N_("Memory taken back by the balloons of all machines")},
	{"RAM/VMM/Shared", N_("Guest memory served by shared Page Fusion pages")},
};

static const gchar *const vmctl_metric_aggregates[] = {"avg", "min", "max", NULL};

static gboolean
vmctl_metric_pattern_is_known(const gchar *pattern)
{
	g_autoptr(GPatternSpec) spec = NULL;
	g_auto(GStrv) parts = NULL;

	if (pattern[0] == '\0' || pattern[0] == ':')
		return FALSE;
	parts = g_strsplit(pattern, ":", 2);
	if (parts[1] != NULL && !g_strv_contains(vmctl_metric_aggregates, parts[1]))
		return FALSE;
	spec = g_pattern_spec_new(parts[0]);
	for (guint i = 0; i < G_N_ELEMENTS(vmctl_metrics); i++) {
		if (g_pattern_spec_match_string(spec, vmctl_metrics[i].name))
			return TRUE;
	}
	return FALSE;
}

/* the description of a metric as vboxmemd names it, e.g. "RAM/VMM/Used:avg" */
static gchar *
vmctl_metric_description(const gchar *metric)
{
	g_auto(GStrv) parts = g_strsplit(metric, ":", 2);

	for (guint i = 0; i < G_N_ELEMENTS(vmctl_metrics); i++) {
		if (g_strcmp0(vmctl_metrics[i].name, parts[0]) != 0)
			continue;
		if (parts[1] == NULL)
			return g_strdup(_(vmctl_metrics[i].description));
		/* TRANSLATORS: a metric's description and an aggregate: avg, min or max */
		return g_strdup_printf(_("%s (%s)"), _(vmctl_metrics[i].description), parts[1]);
	}
	return g_strdup("");
}

/* a machine name as vboxmemd accepts it, "host" or "*" */
static gboolean
vmctl_metric_object_is_valid(const gchar *object)
{
	gsize len = strlen(object);

	if (len == 0 || len > 64 || object[0] == '.' || strchr(object, '/') != NULL ||
	    !g_utf8_validate(object, -1, NULL))
		return FALSE;
	for (const gchar *p = object; *p != '\0'; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p)))
			return FALSE;
	}
	return TRUE;
}

/* splits a comma-separated list, checking every element with @is_valid */
static gchar **
vmctl_parse_list(const gchar *list,
		 gboolean (*is_valid)(const gchar *item),
		 const gchar *what,
		 GError **error)
{
	g_auto(GStrv) items = NULL;

	if (list == NULL)
		return g_new0(gchar *, 1);
	items = g_strsplit(list, ",", -1);
	for (guint i = 0; items[i] != NULL; i++) {
		g_autofree gchar *shown = NULL;
		if (is_valid(items[i]))
			continue;
		shown = vmctl_escape(items[i], FALSE);
		g_set_error(error, VMCTL_ERROR, VMCTL_ERROR_USAGE, "%s \"%s\"", what, shown);
		return NULL;
	}
	return g_steal_pointer(&items);
}

/* sizes in MiB, as everywhere in vboxmemctl */
static gchar *
vmctl_format_metric_value(gdouble value, const gchar *unit)
{
	gdouble mib = value / VMCTL_MIB;

	if (g_strcmp0(unit, "B") != 0)
		return g_strdup_printf("%.2f %s", value, unit);
	if (mib >= 0 && mib < G_MAXUINT32 && mib == (gdouble)(guint64)mib)
		return g_strdup_printf("%.0f MiB", mib);
	return g_strdup_printf("%.2f MiB", mib);
}

#define VMCTL_METRICS_ROW "%-24s %-28s %s\n"

static void
vmctl_print_metric_values(GVariant *values)
{
	GVariantIter iter;
	const gchar *object;
	const gchar *metric;
	const gchar *unit;
	gdouble value;
	gint64 timestamp;

	printf(VMCTL_METRICS_ROW, _("Object"), _("Metric"), _("Value"));
	g_variant_iter_init(&iter, values);
	while (g_variant_iter_next(
		&iter, "(&s&sd&sx)", &object, &metric, &value, &unit, &timestamp)) {
		g_autofree gchar *shown_object = vmctl_escape(object, FALSE);
		g_autofree gchar *shown_metric = vmctl_escape(metric, FALSE);
		g_autofree gchar *shown_value = vmctl_format_metric_value(value, unit);
		printf(VMCTL_METRICS_ROW, shown_object, shown_metric, shown_value);
	}
}

/* what metrics list shows: the objects and metrics vboxmemd samples now */
static void
vmctl_print_metric_list(GVariant *values)
{
	GVariantIter iter;
	const gchar *object;
	const gchar *metric;
	const gchar *unit;
	gdouble value;
	gint64 timestamp;

	printf("%-24s %-28s %-4s %s\n", _("Object"), _("Metric"), _("Unit"), _("Description"));
	g_variant_iter_init(&iter, values);
	while (g_variant_iter_next(
		&iter, "(&s&sd&sx)", &object, &metric, &value, &unit, &timestamp)) {
		g_autofree gchar *shown_object = vmctl_escape(object, FALSE);
		g_autofree gchar *shown_metric = vmctl_escape(metric, FALSE);
		g_autofree gchar *description = vmctl_metric_description(metric);
		/* sizes are shown in MiB */
		const gchar *shown_unit = g_strcmp0(unit, "B") == 0 ? "MiB" : unit;
		g_autofree gchar *escaped_unit = vmctl_escape(shown_unit, FALSE);
		printf("%-24s %-28s %-4s %s\n",
		       shown_object,
		       shown_metric,
		       escaped_unit,
		       description);
	}
}

/* the value of (@object, @metric) in an a(ssdsx) answer of QueryMetrics */
static gboolean
vmctl_metric_lookup(GVariant *values, const gchar *object, const gchar *metric, gdouble *value)
{
	GVariantIter iter;
	const gchar *o;
	const gchar *m;
	const gchar *unit;
	gdouble v;
	gint64 timestamp;

	g_variant_iter_init(&iter, values);
	while (g_variant_iter_next(&iter, "(&s&sd&sx)", &o, &m, &v, &unit, &timestamp)) {
		if (g_strcmp0(o, object) == 0 && g_strcmp0(m, metric) == 0) {
			*value = v;
			return TRUE;
		}
	}
	return FALSE;
}

/*
 * The memory bar of metrics collect: a machine's memory split into parts,
 * VMCTL_BAR_WIDTH characters for its whole memory size.
 */
#define VMCTL_BAR_WIDTH 40

typedef enum {
	VMCTL_BAR_USED,
	VMCTL_BAR_CACHE,
	VMCTL_BAR_FREE,
	VMCTL_BAR_BALLOON,
	VMCTL_BAR_SHARED,
	VMCTL_BAR_N_PARTS
} VmctlBarPart;

static const struct {
	gchar symbol;
	const gchar *name;
	const gchar *metric; /* %NULL: what the others leave */
} vmctl_bar_parts[VMCTL_BAR_N_PARTS] = {
	[VMCTL_BAR_USED] = {'#', N_("used"), NULL},
	[VMCTL_BAR_CACHE] = {'%', N_("cache"), "Guest/RAM/Usage/Cache"},
	[VMCTL_BAR_FREE] = {'.', N_("free"), "Guest/RAM/Usage/Free"},
	[VMCTL_BAR_BALLOON] = {'~', N_("balloon"), "Guest/RAM/Usage/Balloon"},
	[VMCTL_BAR_SHARED] = {'=', N_("shared"), "Guest/RAM/Usage/Shared"},
};

static gchar *
vmctl_bar_legend(void)
{
	GString *legend = g_string_new(_("Memory:"));

	for (guint i = 0; i < VMCTL_BAR_N_PARTS; i++)
		g_string_append_printf(
			legend, "  %c %s", vmctl_bar_parts[i].symbol, _(vmctl_bar_parts[i].name));
	return g_string_free(legend, FALSE);
}

/*
 * Draws @bytes, the size of each part, as VMCTL_BAR_WIDTH characters for
 * @total bytes; parts are rounded by largest remainder, so the bar always has
 * its full width.
 */
static gchar *
vmctl_bar_draw(const gdouble bytes[VMCTL_BAR_N_PARTS], gdouble total)
{
	guint cells[VMCTL_BAR_N_PARTS];
	gdouble remainders[VMCTL_BAR_N_PARTS];
	guint used_cells = 0;
	GString *bar = g_string_sized_new(VMCTL_BAR_WIDTH);

	for (guint i = 0; i < VMCTL_BAR_N_PARTS; i++) {
		gdouble exact = total > 0 ? bytes[i] / total * VMCTL_BAR_WIDTH : 0;
		cells[i] = (guint)exact;
		remainders[i] = exact - cells[i];
		used_cells += cells[i];
	}
	while (total > 0 && used_cells < VMCTL_BAR_WIDTH) {
		guint largest = 0;
		for (guint i = 1; i < VMCTL_BAR_N_PARTS; i++) {
			if (remainders[i] > remainders[largest])
				largest = i;
		}
		cells[largest]++;
		remainders[largest] = -1;
		used_cells++;
	}
	for (guint i = 0; i < VMCTL_BAR_N_PARTS; i++) {
		for (guint j = 0; j < cells[i]; j++)
			g_string_append_c(bar, vmctl_bar_parts[i].symbol);
	}
	return g_string_free(bar, FALSE);
}

/*
 * The bar of @machine from the metrics in @values, or %NULL while the guest
 * has reported no statistics. What the guest does not account for (its
 * kernel, memory it does not see) counts as used; a guest that reports more
 * than its memory is scaled down to it.
 */
static gchar *
vmctl_machine_bar(VboxmemMachine *machine, GVariant *values)
{
	const gchar *name = vboxmem_machine_get_name(machine);
	gdouble memory = (gdouble)vboxmem_machine_get_memory_size(machine);
	gdouble bytes[VMCTL_BAR_N_PARTS] = {0};
	gdouble accounted = 0;

	if (!vmctl_metric_lookup(values, name, "Guest/RAM/Usage/Free", &bytes[VMCTL_BAR_FREE]))
		return NULL;
	for (guint i = 0; i < VMCTL_BAR_N_PARTS; i++) {
		if (vmctl_bar_parts[i].metric != NULL)
			vmctl_metric_lookup(values, name, vmctl_bar_parts[i].metric, &bytes[i]);
		accounted += bytes[i];
	}
	bytes[VMCTL_BAR_USED] = MAX(memory - accounted, 0);
	return vmctl_bar_draw(bytes, MAX(memory, accounted));
}

static gboolean
vmctl_objects_include(gchar **objects, const gchar *name)
{
	return objects[0] == NULL || g_strv_contains((const gchar *const *)objects, "*") ||
	       g_strv_contains((const gchar *const *)objects, name);
}

typedef struct {
	VboxmemClient *client;
	gchar **objects;
	gchar **metrics;
	guint period;  /* seconds */
	guint samples; /* 0: until interrupted */
	guint taken;
	guint tick_id;
	GMainLoop *loop;
	GError *error;
} VmctlCollect;

/* the running machines among the objects asked for, sorted by name */
static GPtrArray *
vmctl_collect_machines(VmctlCollect *collect)
{
	g_autoptr(GPtrArray) machines = vboxmem_client_get_machines(collect->client);
	GPtrArray *shown = g_ptr_array_new_with_free_func(g_object_unref);

	for (guint i = 0; i < machines->len; i++) {
		VboxmemMachine *machine = g_ptr_array_index(machines, i);
		VboxmemMachineState state = vboxmem_machine_get_state(machine);
		if ((state == VBOXMEM_MACHINE_STATE_RUNNING ||
		     state == VBOXMEM_MACHINE_STATE_PAUSED) &&
		    vmctl_objects_include(collect->objects, vboxmem_machine_get_name(machine)))
			g_ptr_array_add(shown, g_object_ref(machine));
	}
	return shown;
}

/*
 * Draws the bars of the running machines asked for. @sampled, the answer for
 * all metrics of all objects, holds their values already; otherwise they are
 * queried.
 */
static gboolean
vmctl_collect_print_bars(VmctlCollect *collect, GVariant *sampled, GError **error)
{
	g_autoptr(GPtrArray) machines = vmctl_collect_machines(collect);
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	const gchar *const guest_metrics[] = {"Guest/RAM/Usage/*", NULL};
	g_autoptr(GVariant) values = NULL;
	g_autofree gchar *legend = NULL;

	if (machines->len == 0)
		return TRUE;
	if (sampled != NULL) {
		values = g_variant_ref(sampled);
	} else {
		for (guint i = 0; i < machines->len; i++)
			g_ptr_array_add(
				names,
				(gpointer)vboxmem_machine_get_name(g_ptr_array_index(machines, i)));
		g_ptr_array_add(names, NULL);
		values = vboxmem_client_query_metrics_sync(collect->client,
							   (const gchar *const *)names->pdata,
							   guest_metrics,
							   NULL,
							   error);
		if (values == NULL)
			return FALSE;
	}
	legend = vmctl_bar_legend();
	printf("%-24s %s\n", _("Machine"), legend);
	for (guint i = 0; i < machines->len; i++) {
		VboxmemMachine *machine = g_ptr_array_index(machines, i);
		g_autofree gchar *shown_name =
			vmctl_escape(vboxmem_machine_get_name(machine), FALSE);
		g_autofree gchar *bar = vmctl_machine_bar(machine, values);
		g_autofree gchar *size = vmctl_format_mib(vboxmem_machine_get_memory_size(machine));
		if (bar != NULL)
			printf("%-24s [%s] %s\n", shown_name, bar, size);
		else
			printf("%-24s %s\n", shown_name, _("(no guest statistics yet)"));
	}
	return TRUE;
}

static gboolean
vmctl_collect_sample(VmctlCollect *collect, GError **error)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree gchar *time = g_date_time_format(now, "%Y-%m-%d %H:%M:%S");
	g_autoptr(GVariant) values = NULL;
	gboolean all;

	values = vboxmem_client_query_metrics_sync(collect->client,
						   (const gchar *const *)collect->objects,
						   (const gchar *const *)collect->metrics,
						   NULL,
						   error);
	if (values == NULL)
		return FALSE;
	if (collect->taken > 0)
		printf("\n");
	printf(_("Time: %s\n"), time);
	vmctl_print_metric_values(values);
	/* with no object or metric named, the sample holds the bars' values too */
	all = vmctl_objects_include(collect->objects, "*") && collect->metrics[0] == NULL;
	if (!vmctl_collect_print_bars(collect, all ? values : NULL, error))
		return FALSE;
	fflush(stdout);
	return TRUE;
}

static gboolean
vmctl_collect_tick_cb(gpointer user_data)
{
	VmctlCollect *collect = user_data;
	gboolean ok = vmctl_collect_sample(collect, &collect->error);

	collect->taken++;
	if (!ok || collect->taken == collect->samples) {
		collect->tick_id = 0;
		g_main_loop_quit(collect->loop);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
vmctl_collect_interrupted_cb(gpointer user_data)
{
	VmctlCollect *collect = user_data;

	g_main_loop_quit(collect->loop);
	return G_SOURCE_CONTINUE;
}

/*
 * Shows the metrics every period, as VBoxManage metrics collect does, until
 * the samples asked for are taken or Ctrl-C (a normal end: exit status 0).
 * The main loop keeps the machines' states up to date in between.
 */
static gboolean
vmctl_metrics_collect(VmctlCollect *collect, GError **error)
{
	guint sigint_id;
	guint sigterm_id;

	collect->loop = g_main_loop_new(NULL, FALSE);
	sigint_id = g_unix_signal_add(SIGINT, vmctl_collect_interrupted_cb, collect);
	sigterm_id = g_unix_signal_add(SIGTERM, vmctl_collect_interrupted_cb, collect);
	if (vmctl_collect_tick_cb(collect)) {
		collect->tick_id =
			g_timeout_add(collect->period * 1000, vmctl_collect_tick_cb, collect);
		g_main_loop_run(collect->loop);
		g_clear_handle_id(&collect->tick_id, g_source_remove);
	}
	g_source_remove(sigint_id);
	g_source_remove(sigterm_id);
	g_clear_pointer(&collect->loop, g_main_loop_unref);
	if (collect->error != NULL) {
		g_propagate_error(error, g_steal_pointer(&collect->error));
		return FALSE;
	}
	return TRUE;
}

/* vboxmemd answers NoSuchMachine for a name that is not a machine's; say so in our words first */
static gboolean
vmctl_check_metric_objects(VboxmemClient *client, gchar **objects, GError **error)
{
	for (guint i = 0; objects[i] != NULL; i++) {
		g_autoptr(VboxmemMachine) machine = NULL;
		g_autofree gchar *shown = NULL;

		if (g_strcmp0(objects[i], "host") == 0 || g_strcmp0(objects[i], "*") == 0)
			continue;
		machine = vboxmem_client_lookup_machine(client, objects[i]);
		if (machine != NULL)
			continue;
		shown = vmctl_escape(objects[i], FALSE);
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_NO_SUCH_MACHINE,
			    _("no machine is named \"%s\""),
			    shown);
		return FALSE;
	}
	return TRUE;
}

typedef enum {
	VMCTL_METRICS_LIST,
	VMCTL_METRICS_QUERY,
	VMCTL_METRICS_COLLECT,
} VmctlMetricsCommand;

static const gchar *const vmctl_metrics_commands[] = {"list", "query", "collect"};

#define VMCTL_COLLECT_PERIOD_MAX 86400

static gboolean
vmctl_parse_metrics_command(const gchar *name, VmctlMetricsCommand *command, GError **error)
{
	g_autofree gchar *shown = NULL;

	guint index;

	if (vmctl_lookup_word(
		    name, vmctl_metrics_commands, G_N_ELEMENTS(vmctl_metrics_commands), &index)) {
		*command = (VmctlMetricsCommand)index;
		return TRUE;
	}
	shown = vmctl_escape(name, FALSE);
	g_set_error(error,
		    VMCTL_ERROR,
		    VMCTL_ERROR_USAGE,
		    _("unknown metrics command \"%s\"; expected list, query or collect"),
		    shown);
	return FALSE;
}

/* parses --period and --samples, which only collect takes */
static gboolean
vmctl_parse_collect_options(VmctlMetricsCommand command,
			    const gchar *period,
			    const gchar *samples,
			    VmctlCollect *collect,
			    GError **error)
{
	if (command != VMCTL_METRICS_COLLECT && (period != NULL || samples != NULL)) {
		g_set_error_literal(error,
				    VMCTL_ERROR,
				    VMCTL_ERROR_USAGE,
				    _("--period and --samples apply to metrics collect only"));
		return FALSE;
	}
	collect->period = 1;
	collect->samples = 0;
	if (period != NULL && (!vmctl_parse_count("--period", period, &collect->period, error) ||
			       collect->period < 1 || collect->period > VMCTL_COLLECT_PERIOD_MAX)) {
		g_clear_error(error);
		g_set_error(error,
			    VMCTL_ERROR,
			    VMCTL_ERROR_USAGE,
			    _("--period needs a whole number of seconds from 1 to %u"),
			    (guint)VMCTL_COLLECT_PERIOD_MAX);
		return FALSE;
	}
	if (samples != NULL &&
	    (!vmctl_parse_count("--samples", samples, &collect->samples, error) ||
	     collect->samples < 1)) {
		g_clear_error(error);
		g_set_error_literal(error,
				    VMCTL_ERROR,
				    VMCTL_ERROR_USAGE,
				    _("--samples needs a whole number of samples, at least 1"));
		return FALSE;
	}
	return TRUE;
}

/* vboxmemctl metrics list|query|collect [--period S] [--samples N] [OBJECTS [METRICS]] */
gboolean
vmctl_cmd_metrics(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	g_autofree gchar *period = NULL;
	g_autofree gchar *samples = NULL;
	const GOptionEntry entries[] = {{"period",
					 0,
					 0,
					 G_OPTION_ARG_STRING,
					 &period,
					 N_("collect: seconds between two samples (default 1)"),
					 N_("S")},
					{"samples",
					 0,
					 0,
					 G_OPTION_ARG_STRING,
					 &samples,
					 N_("collect: stop after N samples (default: at Ctrl-C)"),
					 N_("N")},
					{NULL}};
	VmctlMetricsCommand command = VMCTL_METRICS_QUERY;
	VmctlCollect collect = {NULL};
	g_auto(GStrv) objects = NULL;
	g_auto(GStrv) metrics = NULL;
	g_autoptr(GVariant) values = NULL;
	VboxmemClient *client;

	if (!vmctl_parse_verb_options(ctx, entries, &argc, &argv, 1, 3, error) ||
	    !vmctl_parse_metrics_command(argv[1], &command, error) ||
	    !vmctl_parse_collect_options(command, period, samples, &collect, error))
		return FALSE;
	objects = vmctl_parse_list(argc > 2 ? argv[2] : NULL,
				   vmctl_metric_object_is_valid,
				   _("invalid object name"),
				   error);
	if (objects == NULL)
		return FALSE;
	metrics = vmctl_parse_list(argc > 3 ? argv[3] : NULL,
				   vmctl_metric_pattern_is_known,
				   _("unknown metric"),
				   error);
	if (metrics == NULL)
		return FALSE;

	client = vmctl_get_client(ctx, error);
	if (client == NULL || !vmctl_check_metric_objects(client, objects, error))
		return FALSE;
	if (command == VMCTL_METRICS_COLLECT) {
		collect.client = client;
		collect.objects = objects;
		collect.metrics = metrics;
		return vmctl_metrics_collect(&collect, error);
	}
	values = vboxmem_client_query_metrics_sync(
		client, (const gchar *const *)objects, (const gchar *const *)metrics, NULL, error);
	if (values == NULL)
		return FALSE;
	if (command == VMCTL_METRICS_LIST)
		vmctl_print_metric_list(values);
	else
		vmctl_print_metric_values(values);
	return TRUE;
}
