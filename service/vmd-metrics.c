/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vboxmem-error.h"
#include "vmd-metrics.h"

/*
 * The sampler behind Manager.QueryMetrics: every period it asks for one value
 * per (object, metric) and keeps the last samples of each, so queries can ask
 * for the latest value or for ":avg", ":min" and ":max" over the kept ones,
 * as VirtualBox's "metrics query" does. Series of objects that stopped
 * reporting (a machine powered off) are dropped.
 */

typedef struct {
	gdouble value;
	gint64 time;
} Sample;

typedef struct {
	gchar *object;
	gchar *metric;
	GArray *samples; /* ring of Sample, oldest first once full */
	guint next;
	guint64 round;
} Series;

struct _VmdMetrics {
	GObject parent_instance;
	guint capacity;
	guint64 round;
	gint64 round_time;
	GHashTable *series; /* "object\nmetric" → Series */
	VmdMetricsCollectFunc collect;
	gpointer collect_data;
	guint timer;
};

G_DEFINE_TYPE(VmdMetrics, vmd_metrics, G_TYPE_OBJECT)

static const gchar *const aggregates[] = {"avg", "min", "max"};

static void
series_free(Series *s)
{
	g_free(s->object);
	g_free(s->metric);
	g_array_unref(s->samples);
	g_free(s);
}

void
vmd_metrics_record(VmdMetrics *self, const gchar *object, const gchar *metric, guint64 value)
{
	g_autofree gchar *key = g_strconcat(object, "\n", metric, NULL);
	Series *s = g_hash_table_lookup(self->series, key);
	Sample sample = {(gdouble)value, self->round_time};

	if (s == NULL) {
		s = g_new0(Series, 1);
		s->object = g_strdup(object);
		s->metric = g_strdup(metric);
		s->samples = g_array_sized_new(FALSE, FALSE, sizeof(Sample), self->capacity);
		g_hash_table_insert(self->series, g_steal_pointer(&key), s);
	}
	if (s->samples->len < self->capacity)
		g_array_append_val(s->samples, sample);
	else
		g_array_index(s->samples, Sample, s->next) = sample;
	s->next = (s->next + 1) % self->capacity;
	s->round = self->round;
}

static gboolean
is_stale(gpointer key, gpointer value, gpointer user_data)
{
	const Series *s = value;
	const VmdMetrics *self = user_data;
	return s->round != self->round;
}

void
vmd_metrics_sample_now(VmdMetrics *self)
{
	self->round++;
	self->round_time = g_get_real_time();
	self->collect(self, self->collect_data);
	g_hash_table_foreach_remove(self->series, is_stale, self);
}

static gboolean
sample_cb(gpointer user_data)
{
	vmd_metrics_sample_now(user_data);
	return G_SOURCE_CONTINUE;
}

static const Sample *
latest(const Series *s)
{
	guint index = (s->next + s->samples->len - 1) % s->samples->len;
	return &g_array_index(s->samples, Sample, index);
}

static gdouble
aggregate(const Series *s, const gchar *how)
{
	gdouble result = g_array_index(s->samples, Sample, 0).value;

	for (guint i = 1; i < s->samples->len; i++) {
		gdouble v = g_array_index(s->samples, Sample, i).value;
		if (g_str_equal(how, "min"))
			result = MIN(result, v);
		else if (g_str_equal(how, "max"))
			result = MAX(result, v);
		else
			result += v;
	}
	return g_str_equal(how, "avg") ? result / s->samples->len : result;
}

/* Splits e.g. "Guest/RAM/Usage/Free:avg" into the name pattern and the aggregate ("" for the latest
 * value). */
static gboolean
parse_pattern(const gchar *pattern, gchar **name, const gchar **how, GError **error)
{
	const gchar *colon = strrchr(pattern, ':');

	*how = "";
	if (colon != NULL) {
		*how = colon + 1;
		if (!g_strv_contains(aggregates, *how)) {
			g_set_error(error,
				    VBOXMEM_ERROR,
				    VBOXMEM_ERROR_INVALID_ARGUMENT,
				    "metrics: '%s' is not :avg, :min or :max",
				    colon);
			return FALSE;
		}
	}
	*name = colon != NULL ? g_strndup(pattern, (gsize)(colon - pattern)) : g_strdup(pattern);
	if (**name == '\0') {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "metrics: '%s' names no metric",
			    pattern);
		return FALSE;
	}
	return TRUE;
}

static gboolean
object_wanted(const gchar *const *objects, const gchar *object)
{
	if (objects == NULL || objects[0] == NULL)
		return TRUE;
	for (guint i = 0; objects[i] != NULL; i++) {
		if (g_str_equal(objects[i], "*") || g_str_equal(objects[i], object))
			return TRUE;
	}
	return FALSE;
}

static gint
compare_series(gconstpointer a, gconstpointer b)
{
	const Series *x = *(const Series *const *)a;
	const Series *y = *(const Series *const *)b;
	gint by_object = g_strcmp0(x->object, y->object);
	return by_object != 0 ? by_object : g_strcmp0(x->metric, y->metric);
}

static GPtrArray *
sorted_series(VmdMetrics *self, const gchar *const *objects)
{
	GPtrArray *all = g_ptr_array_new();
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, self->series);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		if (object_wanted(objects, ((Series *)value)->object))
			g_ptr_array_add(all, value);
	}
	g_ptr_array_sort(all, compare_series);
	return all;
}

static void
add_matches(GVariantBuilder *builder, GPtrArray *series, const gchar *name, const gchar *how)
{
	for (guint i = 0; i < series->len; i++) {
		const Series *s = g_ptr_array_index(series, i);
		g_autofree gchar *metric = NULL;

		if (!g_pattern_match_simple(name, s->metric))
			continue;
		metric =
			*how != '\0' ? g_strconcat(s->metric, ":", how, NULL) : g_strdup(s->metric);
		g_variant_builder_add(builder,
				      "(ssdsx)",
				      s->object,
				      metric,
				      *how != '\0' ? aggregate(s, how) : latest(s)->value,
				      "B",
				      latest(s)->time);
	}
}

GVariant *
vmd_metrics_query(VmdMetrics *self,
		  const gchar *const *objects,
		  const gchar *const *patterns,
		  GError **error)
{
	const gchar *const all[] = {"*", NULL};
	g_autoptr(GPtrArray) series = sorted_series(self, objects);
	GVariantBuilder builder;

	if (patterns == NULL || patterns[0] == NULL)
		patterns = all;
	g_variant_builder_init(&builder, G_VARIANT_TYPE("a(ssdsx)"));
	for (guint i = 0; patterns[i] != NULL; i++) {
		g_autofree gchar *name = NULL;
		const gchar *how = NULL;

		if (!parse_pattern(patterns[i], &name, &how, error)) {
			g_variant_builder_clear(&builder);
			return NULL;
		}
		add_matches(&builder, series, name, how);
	}
	return g_variant_builder_end(&builder);
}

static void
vmd_metrics_finalize(GObject *object)
{
	VmdMetrics *self = VMD_METRICS(object);

	g_clear_handle_id(&self->timer, g_source_remove);
	g_hash_table_unref(self->series);
	G_OBJECT_CLASS(vmd_metrics_parent_class)->finalize(object);
}

static void
vmd_metrics_class_init(VmdMetricsClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = vmd_metrics_finalize;
}

static void
vmd_metrics_init(VmdMetrics *self)
{
	self->series =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)series_free);
}

VmdMetrics *
vmd_metrics_new(guint period_ms, guint samples, VmdMetricsCollectFunc collect, gpointer user_data)
{
	VmdMetrics *self = g_object_new(VMD_TYPE_METRICS, NULL);

	self->capacity = MAX(samples, 1);
	self->collect = collect;
	self->collect_data = user_data;
	self->timer = g_timeout_add(period_ms, sample_cb, self);
	return self;
}
