/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <unistd.h>

#include "vmd-cgroups.h"

/* Machine groups are "vm-NAME": no machine name can then clash with a control file. */
#define GROUP_PREFIX "vm-"

struct _VmdCgroups {
	GObject parent_instance;
	gchar *base;             /* our directory of machine groups; NULL: none */
	const gchar *limit_file; /* memory.max (v2) or memory.limit_in_bytes (v1) */
};

G_DEFINE_TYPE(VmdCgroups, vmd_cgroups, G_TYPE_OBJECT)

/* The mount point of the hierarchy whose line in mountinfo matches, and its root. */
static gboolean
find_mount(gboolean v2, gchar **mount_point, gchar **mount_root)
{
	g_autofree gchar *mountinfo = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/self/mountinfo", &mountinfo, NULL, NULL))
		return FALSE;
	lines = g_strsplit(mountinfo, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) halves = g_strsplit(lines[i], " - ", 2);
		g_auto(GStrv) fields = NULL;
		g_auto(GStrv) tail = NULL;

		if (g_strv_length(halves) != 2)
			continue;
		fields = g_strsplit(halves[0], " ", -1);
		tail = g_strsplit(halves[1], " ", -1);
		if (g_strv_length(fields) < 5 || g_strv_length(tail) < 3)
			continue;
		if (v2 ? g_strcmp0(tail[0], "cgroup2") != 0
		       : (g_strcmp0(tail[0], "cgroup") != 0 || !strstr(tail[2], "memory")))
			continue;
		*mount_root = g_strdup(fields[3]);
		*mount_point = g_strdup(fields[4]);
		return TRUE;
	}
	return FALSE;
}

/* Our own group in the hierarchy: "0::/path" (v2) or "N:...memory...:/path" (v1). */
static gchar *
own_group(gboolean v2)
{
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/self/cgroup", &text, NULL, NULL))
		return NULL;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit(lines[i], ":", 3);
		g_auto(GStrv) controllers = NULL;

		if (g_strv_length(fields) != 3)
			continue;
		controllers = g_strsplit(fields[1], ",", -1);
		if (v2 ? g_strcmp0(fields[0], "0") == 0
		       : g_strv_contains((const gchar *const *)controllers, "memory"))
			return g_strdup(fields[2]);
	}
	return NULL;
}

static gboolean
write_file(const gchar *path, const gchar *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = write(fd, text, strlen(text)) == (gssize)strlen(text);
	close(fd);
	return ok;
}

/* The directory of our group, from the mount point and the group relative to the mount root. */
static gchar *
own_directory(gboolean v2)
{
	g_autofree gchar *mount_point = NULL;
	g_autofree gchar *mount_root = NULL;
	g_autofree gchar *group = own_group(v2);
	const gchar *relative;

	if (group == NULL || !find_mount(v2, &mount_point, &mount_root))
		return NULL;
	relative = group;
	if (g_strcmp0(mount_root, "/") != 0) {
		if (!g_str_has_prefix(group, mount_root))
			return NULL;
		relative = group + strlen(mount_root);
	}
	return g_build_filename(mount_point, relative, NULL);
}

static gboolean
has_memory_controller(const gchar *directory)
{
	g_autofree gchar *path = g_build_filename(directory, "cgroup.controllers", NULL);
	g_autofree gchar *controllers = NULL;
	g_auto(GStrv) names = NULL;

	if (!g_file_get_contents(path, &controllers, NULL, NULL))
		return FALSE;
	names = g_strsplit_set(g_strstrip(controllers), " ", -1);
	return g_strv_contains((const gchar *const *)names, "memory");
}

/*
 * cgroup v2 lets a group hand the memory controller to its children only
 * while it holds no process itself: vboxmemd moves into a leaf of its own
 * first, as a service with Delegate=yes does.
 */
static gboolean
delegate_v2(const gchar *own, const gchar *base)
{
	g_autofree gchar *leaf = g_build_filename(own, "vboxmemd", NULL);
	g_autofree gchar *leaf_procs = g_build_filename(leaf, "cgroup.procs", NULL);
	g_autofree gchar *subtree = g_build_filename(own, "cgroup.subtree_control", NULL);
	g_autofree gchar *base_subtree = g_build_filename(base, "cgroup.subtree_control", NULL);

	if (!has_memory_controller(own))
		return FALSE;
	if (g_mkdir(leaf, 0755) != 0 && errno != EEXIST)
		return FALSE;
	return write_file(leaf_procs, "0") && write_file(subtree, "+memory") &&
	       (g_mkdir(base, 0755) == 0 || errno == EEXIST) && write_file(base_subtree, "+memory");
}

static gboolean
set_up(VmdCgroups *self, gboolean v2, const gchar *instance)
{
	g_autofree gchar *own = own_directory(v2);
	g_autofree gchar *name = NULL;
	g_autofree gchar *base = NULL;

	if (own == NULL)
		return FALSE;
	name = g_strdup_printf("vboxmem-%s", instance);
	base = g_build_filename(own, name, NULL);
	if (v2 ? !delegate_v2(own, base) : (g_mkdir(base, 0755) != 0 && errno != EEXIST))
		return FALSE;
	self->base = g_steal_pointer(&base);
	self->limit_file = v2 ? "memory.max" : "memory.limit_in_bytes";
	g_info("Workers run in memory cgroups under %s (cgroup %s)", self->base, v2 ? "v2" : "v1");
	return TRUE;
}

VmdCgroups *
vmd_cgroups_new(gboolean enabled, const gchar *instance)
{
	VmdCgroups *self = g_object_new(VMD_TYPE_CGROUPS, NULL);
	g_autofree gchar *id = g_compute_checksum_for_string(G_CHECKSUM_SHA256, instance, -1);

	id[12] = '\0';
	if (!enabled)
		g_info("Memory cgroups are turned off (Worker.MemoryCgroups): workers are limited "
		       "only by the memory pool's accounting");
	else if (!set_up(self, TRUE, id) && !set_up(self, FALSE, id))
		g_message(
			"No memory cgroup to run workers in (neither cgroup v2's memory controller "
			"nor the v1 memory hierarchy is usable): a guest that takes ballooned "
			"memory back is charged by the pool but not stopped at a limit");
	return self;
}

gboolean
vmd_cgroups_available(VmdCgroups *self)
{
	return self->base != NULL;
}

static gchar *
group_path(VmdCgroups *self, const gchar *machine, const gchar *file)
{
	g_autofree gchar *group = g_strconcat(GROUP_PREFIX, machine, NULL);

	return g_build_filename(self->base, group, file, NULL);
}

/* Processes left in the group by an earlier vboxmemd's worker are ended. */
static void
end_leftovers(const gchar *procs_path, const gchar *machine)
{
	g_autofree gchar *procs = NULL;
	g_auto(GStrv) pids = NULL;

	if (!g_file_get_contents(procs_path, &procs, NULL, NULL))
		return;
	pids = g_strsplit(procs, "\n", -1);
	for (guint i = 0; pids[i] != NULL; i++) {
		gint64 pid = g_ascii_strtoll(pids[i], NULL, 10);

		if (pid <= 0)
			continue;
		g_warning("Machine %s: ending process %" G_GINT64_FORMAT
			  ", left in its cgroup by an earlier worker",
			  machine,
			  pid);
		kill((pid_t)pid, SIGKILL);
	}
}

gchar *
vmd_cgroups_prepare(VmdCgroups *self, const gchar *machine, guint64 limit)
{
	g_autofree gchar *directory = NULL;
	g_autofree gchar *procs = NULL;

	if (self->base == NULL)
		return NULL;
	directory = group_path(self, machine, NULL);
	procs = group_path(self, machine, "cgroup.procs");
	if (g_mkdir(directory, 0755) != 0 && errno != EEXIST) {
		g_warning("Machine %s: cannot make its memory cgroup %s: %s",
			  machine,
			  directory,
			  g_strerror(errno));
		return NULL;
	}
	end_leftovers(procs, machine);
	vmd_cgroups_set_limit(self, machine, limit);
	return g_steal_pointer(&procs);
}

void
vmd_cgroups_set_limit(VmdCgroups *self, const gchar *machine, guint64 limit)
{
	g_autofree gchar *path = NULL;
	g_autofree gchar *text = NULL;

	if (self->base == NULL)
		return;
	path = group_path(self, machine, self->limit_file);
	text = g_strdup_printf("%" G_GUINT64_FORMAT, limit);
	/* Lower than what the group holds now fails (v1): the next update tries again. */
	if (!write_file(path, text))
		g_debug("Machine %s: memory limit %" G_GUINT64_FORMAT " MiB not set: %s",
			machine,
			limit >> 20,
			g_strerror(errno));
}

void
vmd_cgroups_remove(VmdCgroups *self, const gchar *machine)
{
	g_autofree gchar *directory = NULL;

	if (self->base == NULL)
		return;
	directory = group_path(self, machine, NULL);
	if (g_rmdir(directory) != 0 && errno != ENOENT)
		g_debug("Machine %s: memory cgroup %s stays: %s",
			machine,
			directory,
			g_strerror(errno));
}

void
vmd_cgroups_join(gpointer procs_path)
{
	static const char failed[] = "vboxmem-vm: cannot join the machine's memory cgroup\n";
	int fd = open(procs_path, O_WRONLY | O_CLOEXEC);

	/* Without its limit the worker does not run at all. */
	if (fd < 0 || write(fd, "0", 1) != 1) {
		ssize_t ignored = write(STDERR_FILENO, failed, sizeof(failed) - 1);

		(void)ignored;
		_exit(127);
	}
	close(fd);
}

static void
vmd_cgroups_finalize(GObject *object)
{
	VmdCgroups *self = VMD_CGROUPS(object);

	if (self->base != NULL)
		g_rmdir(self->base);
	g_free(self->base);
	G_OBJECT_CLASS(vmd_cgroups_parent_class)->finalize(object);
}

static void
vmd_cgroups_class_init(VmdCgroupsClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = vmd_cgroups_finalize;
}

static void
vmd_cgroups_init(VmdCgroups *self)
{
}
