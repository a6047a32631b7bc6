/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * libvboxmem against the real vboxmemd, as root, on the private system bus
 * of tools/with-system-bus.
 */

#include "config.h"

#include <string.h>
#include <unistd.h>

#include "vboxmem.h"

#define MiB ((guint64)1024 * 1024)
#define WAIT_TIMEOUT_SECONDS 10

static gboolean
flag_timeout_cb(gpointer user_data)
{
	gboolean *timed_out = user_data;
	*timed_out = TRUE;
	return G_SOURCE_REMOVE;
}

/* iterates the main context until @done returns TRUE; fails the test after a while */
static void
wait_until(gboolean (*done)(gconstpointer data), gconstpointer data)
{
	gboolean timed_out = FALSE;
	guint timeout_id = g_timeout_add_seconds(WAIT_TIMEOUT_SECONDS, flag_timeout_cb, &timed_out);

	while (!done(data) && !timed_out)
		g_main_context_iteration(NULL, TRUE);
	g_assert_false(timed_out);
	g_source_remove(timeout_id);
}

static gboolean
flag_is_set(gconstpointer data)
{
	const gboolean *flag = data;
	return *flag;
}

static gboolean
pointer_is_set(gconstpointer data)
{
	const gpointer *pointer = data;
	return *pointer != NULL;
}

static void
wait_for_flag(const gboolean *flag)
{
	wait_until(flag_is_set, flag);
}

static void
wait_for_machine(VboxmemMachine **machine)
{
	wait_until(pointer_is_set, machine);
}

static void
async_result_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GAsyncResult **result = user_data;
	*result = g_object_ref(res);
}

static GAsyncResult *
wait_for_result(GAsyncResult **result)
{
	wait_until(pointer_is_set, result);
	return *result;
}

static void
flag_set_cb(gpointer instance, GParamSpec *pspec, gpointer user_data)
{
	gboolean *flag = user_data;
	*flag = TRUE;
}

/* for machine-added and machine-removed: keeps the last machine in *@user_data */
static void
machine_store_cb(VboxmemClient *client, VboxmemMachine *machine, gpointer user_data)
{
	VboxmemMachine **stored = user_data;
	g_set_object(stored, machine);
}

static VboxmemClient *
client_new(void)
{
	g_autoptr(GError) error = NULL;
	VboxmemClient *client = vboxmem_client_new_sync(NULL, &error);

	g_assert_no_error(error);
	g_assert_nonnull(client);
	return client;
}

static GVariant *
settings_new(guint64 memory_size, guint cpus)
{
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);

	g_variant_dict_insert(&dict, "MemorySize", "t", memory_size);
	g_variant_dict_insert(&dict, "CPUs", "u", cpus);
	return g_variant_dict_end(&dict);
}

static VboxmemMachine *
machine_create(VboxmemClient *client, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	VboxmemMachine *machine = vboxmem_client_create_machine_sync(
		client, name, settings_new(256 * MiB, 1), NULL, &error);

	g_assert_no_error(error);
	g_assert_nonnull(machine);
	return machine;
}

static void
test_client_new(void)
{
	g_autoptr(VboxmemClient) client = client_new();
	g_autoptr(VboxmemClient) client_async = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GPtrArray) machines = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(vboxmem_client_get_connection(client));
	g_assert_cmpstr(vboxmem_client_get_version(client), !=, NULL);
	g_assert_cmpstr(vboxmem_client_get_version(client), !=, "");
	g_assert_cmpuint(vboxmem_client_get_memory_committed(client),
			 <=,
			 vboxmem_client_get_memory_pool(client));
	g_assert_false(vboxmem_client_get_interactive(client));
	machines = vboxmem_client_get_machines(client);
	g_assert_cmpuint(machines->len, ==, 0);

	vboxmem_client_new(NULL, async_result_cb, &result);
	client_async = vboxmem_client_new_finish(wait_for_result(&result), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(
		vboxmem_client_get_version(client_async), ==, vboxmem_client_get_version(client));
}

static void
test_client_no_daemon(void)
{
	g_autoptr(VboxmemClient) client = NULL;
	g_autoptr(GError) error = NULL;

	if (g_strcmp0(g_getenv("VBOXMEMD_PID"), "") != 0) {
		g_test_skip("needs a bus without vboxmemd (with-system-bus --no-daemon)");
		return;
	}
	client = vboxmem_client_new_sync(NULL, &error);
	g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_FAILED);
	g_assert_null(client);
	g_assert_nonnull(strstr(error->message, "org.vboxmem.VBoxMem1"));
}

static void
test_client_create(void)
{
	g_autoptr(VboxmemClient) client = client_new();
	g_autoptr(VboxmemMachine) machine = NULL;
	g_autoptr(VboxmemMachine) looked_up = NULL;
	g_autoptr(VboxmemMachine) found = NULL;
	g_autoptr(GPtrArray) machines = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	VboxmemMachine *added = NULL;

	g_signal_connect(client, "machine-added", G_CALLBACK(machine_store_cb), &added);
	g_variant_dict_insert(&dict, "MemorySize", "t", 512 * MiB);
	g_variant_dict_insert(&dict, "CPUs", "u", (guint32)2);
	g_variant_dict_insert(&dict, "CommandLine", "s", "console=ttyS0 quiet");
	g_variant_dict_insert(&dict, "BalloonDefaultSize", "t", 128 * MiB);
	g_variant_dict_insert(&dict, "PageFusion", "b", TRUE);
	g_variant_dict_insert(&dict, "DeflateOnOom", "b", TRUE);
	g_variant_dict_insert(&dict, "FreePageReporting", "b", FALSE);
	machine = vboxmem_client_create_machine_sync(
		client, "web 1", g_variant_dict_end(&dict), NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(machine);

	g_assert_cmpstr(vboxmem_machine_get_name(machine), ==, "web 1");
	g_assert_cmpstr(vboxmem_machine_get_object_path(machine),
			==,
			"/org/vboxmem/VBoxMem1/machine/web_201");
	g_assert_cmpuint(vboxmem_machine_get_owner(machine), ==, getuid());
	g_assert_cmpint(vboxmem_machine_get_state(machine), ==, VBOXMEM_MACHINE_STATE_POWERED_OFF);
	g_assert_cmpuint(vboxmem_machine_get_memory_size(machine), ==, 512 * MiB);
	g_assert_cmpuint(vboxmem_machine_get_cpus(machine), ==, 2);
	g_assert_cmpstr(vboxmem_machine_get_kernel(machine), ==, "");
	g_assert_cmpstr(vboxmem_machine_get_initrd(machine), ==, "");
	g_assert_cmpstr(vboxmem_machine_get_command_line(machine), ==, "console=ttyS0 quiet");
	g_assert_cmpuint(vboxmem_machine_get_balloon_default_size(machine), ==, 128 * MiB);
	g_assert_true(vboxmem_machine_get_page_fusion(machine));
	g_assert_true(vboxmem_machine_get_deflate_on_oom(machine));
	g_assert_false(vboxmem_machine_get_free_page_reporting(machine));
	g_assert_false(vboxmem_machine_get_guest_agent_connected(machine));

	/* the signal is emitted by the time the sync call returns */
	g_assert_true(added == machine);
	g_clear_object(&added);

	looked_up = vboxmem_client_lookup_machine(client, "web 1");
	g_assert_true(looked_up == machine);
	g_assert_null(vboxmem_client_lookup_machine(client, "web"));
	found = vboxmem_client_find_machine_sync(client, "web 1", NULL, &error);
	g_assert_no_error(error);
	g_assert_true(found == machine);
	machines = vboxmem_client_get_machines(client);
	g_assert_cmpuint(machines->len, ==, 1);
	g_assert_true(g_ptr_array_index(machines, 0) == machine);
}

static void
test_client_create_async(void)
{
	g_autoptr(VboxmemClient) client = client_new();
	g_autoptr(VboxmemMachine) machine = NULL;
	g_autoptr(VboxmemMachine) found = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GAsyncResult) find_result = NULL;
	g_autoptr(GPtrArray) machines = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(VboxmemMachine) other = NULL;

	vboxmem_client_create_machine(
		client, "db", settings_new(1024 * MiB, 4), NULL, async_result_cb, &result);
	machine = vboxmem_client_create_machine_finish(client, wait_for_result(&result), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(vboxmem_machine_get_name(machine), ==, "db");
	g_assert_cmpuint(vboxmem_machine_get_memory_size(machine), ==, 1024 * MiB);
	g_assert_cmpuint(vboxmem_machine_get_cpus(machine), ==, 4);

	vboxmem_client_find_machine(client, "db", NULL, async_result_cb, &find_result);
	found = vboxmem_client_find_machine_finish(client, wait_for_result(&find_result), &error);
	g_assert_no_error(error);
	g_assert_true(found == machine);

	/* sorted by name */
	other = machine_create(client, "app");
	machines = vboxmem_client_get_machines(client);
	g_assert_cmpuint(machines->len, >=, 2);
	for (guint i = 1; i < machines->len; i++) {
		g_assert_cmpstr(vboxmem_machine_get_name(g_ptr_array_index(machines, i - 1)),
				<,
				vboxmem_machine_get_name(g_ptr_array_index(machines, i)));
	}
	g_assert_true(g_ptr_array_find(machines, other, NULL));
	g_assert_true(g_ptr_array_find(machines, machine, NULL));
}

static void
test_client_modify(void)
{
	g_autoptr(VboxmemClient) client = client_new();
	g_autoptr(VboxmemMachine) machine = machine_create(client, "modified");
	g_autoptr(GVariant) cpus_settings = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	gboolean memory_size_notified = FALSE;
	gboolean cpus_notified = FALSE;
	guint64 memory_size = 0;

	g_signal_connect(
		machine, "notify::memory-size", G_CALLBACK(flag_set_cb), &memory_size_notified);
	g_signal_connect(machine, "notify::cpus", G_CALLBACK(flag_set_cb), &cpus_notified);

	g_assert_true(vboxmem_machine_modify_sync(
		machine, g_variant_new_parsed("{'MemorySize': <%t>}", 768 * MiB), NULL, &error));
	g_assert_no_error(error);
	wait_for_flag(&memory_size_notified);
	g_assert_cmpuint(vboxmem_machine_get_memory_size(machine), ==, 768 * MiB);
	g_object_get(machine, "memory-size", &memory_size, NULL);
	g_assert_cmpuint(memory_size, ==, 768 * MiB);
	g_assert_cmpuint(vboxmem_machine_get_cpus(machine), ==, 1);
	g_assert_false(cpus_notified);

	/* keys not given keep their values; a non-floating dictionary stays the caller's */
	cpus_settings = g_variant_ref_sink(g_variant_new_parsed("{'CPUs': <@u 3>}"));
	vboxmem_machine_modify(machine, cpus_settings, NULL, async_result_cb, &result);
	g_assert_true(vboxmem_machine_modify_finish(machine, wait_for_result(&result), &error));
	g_assert_no_error(error);
	g_assert_true(g_variant_is_of_type(cpus_settings, G_VARIANT_TYPE_VARDICT));
	wait_for_flag(&cpus_notified);
	g_assert_cmpuint(vboxmem_machine_get_cpus(machine), ==, 3);
	g_assert_cmpuint(vboxmem_machine_get_memory_size(machine), ==, 768 * MiB);
}

static void
test_client_signals(void)
{
	g_autoptr(VboxmemClient) client = client_new();
	g_autoptr(VboxmemClient) observer = client_new();
	g_autoptr(VboxmemMachine) machine = NULL;
	g_autoptr(VboxmemMachine) seen = NULL;
	g_autoptr(GError) error = NULL;
	VboxmemMachine *added = NULL;
	VboxmemMachine *removed = NULL;

	/* another client sees what this one does */
	g_signal_connect(observer, "machine-added", G_CALLBACK(machine_store_cb), &added);
	g_signal_connect(observer, "machine-removed", G_CALLBACK(machine_store_cb), &removed);
	machine = machine_create(client, "seen");
	wait_for_machine(&added);
	g_assert_cmpstr(vboxmem_machine_get_name(added), ==, "seen");
	seen = vboxmem_client_lookup_machine(observer, "seen");
	g_assert_true(seen == added);

	g_assert_true(vboxmem_machine_unregister_sync(machine, NULL, &error));
	g_assert_no_error(error);
	wait_for_machine(&removed);
	g_assert_true(removed == seen);
	g_assert_cmpstr(vboxmem_machine_get_name(removed), ==, "seen");
	g_assert_null(vboxmem_client_lookup_machine(observer, "seen"));
	g_clear_object(&removed);
	g_clear_object(&added);
}

static void
assert_create_fails(VboxmemClient *client, const gchar *name, GVariant *settings, gint code)
{
	g_autoptr(VboxmemMachine) machine = NULL;
	g_autoptr(GError) error = NULL;

	machine = vboxmem_client_create_machine_sync(client, name, settings, NULL, &error);
	g_assert_error(error, VBOXMEM_ERROR, code);
	g_assert_null(machine);
	/* the D-Bus error name is stripped */
	g_assert_null(strstr(error->message, "GDBus.Error"));
}

static void
test_client_errors(void)
{
	g_autoptr(VboxmemClient) client = client_new();
	g_autoptr(VboxmemMachine) machine = machine_create(client, "taken");
	g_autoptr(VboxmemMachine) missing = NULL;
	g_autoptr(GVariant) metrics = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	g_auto(GVariantDict) bad_modify = G_VARIANT_DICT_INIT(NULL);

	assert_create_fails(
		client, "taken", settings_new(256 * MiB, 1), VBOXMEM_ERROR_ALREADY_EXISTS);
	assert_create_fails(
		client, "a/b", settings_new(256 * MiB, 1), VBOXMEM_ERROR_INVALID_ARGUMENT);
	assert_create_fails(
		client, ".hidden", settings_new(256 * MiB, 1), VBOXMEM_ERROR_INVALID_ARGUMENT);
	assert_create_fails(client, "", settings_new(256 * MiB, 1), VBOXMEM_ERROR_INVALID_ARGUMENT);
	g_variant_dict_insert(&dict, "MemorySize", "t", 256 * MiB);
	g_variant_dict_insert(&dict, "Colour", "s", "blue");
	assert_create_fails(
		client, "never", g_variant_dict_end(&dict), VBOXMEM_ERROR_INVALID_ARGUMENT);
	assert_create_fails(client,
			    "never",
			    g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0),
			    VBOXMEM_ERROR_INVALID_ARGUMENT);
	g_assert_null(vboxmem_client_lookup_machine(client, "never"));

	missing = vboxmem_client_find_machine_sync(client, "never", NULL, &error);
	g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_NO_SUCH_MACHINE);
	g_assert_null(missing);
	g_clear_error(&error);

	/* a refused Modify changes nothing */
	g_variant_dict_insert(&bad_modify, "MemorySize", "t", 512 * MiB);
	g_variant_dict_insert(&bad_modify, "Colour", "s", "blue");
	g_assert_false(vboxmem_machine_modify_sync(
		machine, g_variant_dict_end(&bad_modify), NULL, &error));
	g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "Colour"));
	g_clear_error(&error);
	g_assert_cmpuint(vboxmem_machine_get_memory_size(machine), ==, 256 * MiB);

	g_assert_false(vboxmem_machine_start_sync(machine, NULL, &error));
	g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_NOT_SUPPORTED);
	g_clear_error(&error);
	g_assert_false(vboxmem_machine_set_balloon_target_sync(machine, 64 * MiB, NULL, &error));
	g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_NOT_SUPPORTED);
	g_clear_error(&error);
	metrics = vboxmem_client_query_metrics_sync(client, NULL, NULL, NULL, &error);
	g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_NOT_SUPPORTED);
	g_assert_null(metrics);
}

static void
test_client_control_async(void)
{
	g_autoptr(VboxmemClient) client = client_new();
	g_autoptr(VboxmemMachine) machine = machine_create(client, "controlled");
	typedef void (*ControlFunc)(
		VboxmemMachine *, GCancellable *, GAsyncReadyCallback, gpointer);
	typedef gboolean (*ControlFinishFunc)(VboxmemMachine *, GAsyncResult *, GError **);
	const struct {
		ControlFunc func;
		ControlFinishFunc finish;
	} controls[] = {
		{vboxmem_machine_start, vboxmem_machine_start_finish},
		{vboxmem_machine_power_off, vboxmem_machine_power_off_finish},
		{vboxmem_machine_pause, vboxmem_machine_pause_finish},
		{vboxmem_machine_resume, vboxmem_machine_resume_finish},
	};

	for (guint i = 0; i < G_N_ELEMENTS(controls); i++) {
		g_autoptr(GAsyncResult) result = NULL;
		g_autoptr(GError) error = NULL;

		controls[i].func(machine, NULL, async_result_cb, &result);
		g_assert_false(controls[i].finish(machine, wait_for_result(&result), &error));
		g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_NOT_SUPPORTED);
	}
}

static void
test_client_unregister(void)
{
	g_autoptr(VboxmemClient) client = client_new();
	g_autoptr(VboxmemMachine) machine = machine_create(client, "gone1");
	g_autoptr(VboxmemMachine) other = machine_create(client, "gone2");
	g_autoptr(VboxmemMachine) missing = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GPtrArray) machines = NULL;
	g_autoptr(GError) error = NULL;
	VboxmemMachine *removed = NULL;

	g_signal_connect(client, "machine-removed", G_CALLBACK(machine_store_cb), &removed);
	g_assert_true(vboxmem_machine_unregister_sync(machine, NULL, &error));
	g_assert_no_error(error);
	wait_for_machine(&removed);
	g_assert_true(removed == machine);
	g_clear_object(&removed);
	g_assert_null(vboxmem_client_lookup_machine(client, "gone1"));
	missing = vboxmem_client_find_machine_sync(client, "gone1", NULL, &error);
	g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_NO_SUCH_MACHINE);
	g_clear_error(&error);

	vboxmem_machine_unregister(other, NULL, async_result_cb, &result);
	g_assert_true(vboxmem_machine_unregister_finish(other, wait_for_result(&result), &error));
	g_assert_no_error(error);
	wait_for_machine(&removed);
	g_assert_true(removed == other);
	g_clear_object(&removed);
	machines = vboxmem_client_get_machines(client);
	g_assert_false(g_ptr_array_find(machines, other, NULL));
	g_assert_false(g_ptr_array_find(machines, machine, NULL));
}

static void
test_client_interactive(void)
{
	g_autoptr(VboxmemClient) client = client_new();
	g_autoptr(VboxmemMachine) machine = NULL;
	gboolean notified = FALSE;

	g_signal_connect(client, "notify::interactive", G_CALLBACK(flag_set_cb), &notified);
	vboxmem_client_set_interactive(client, TRUE);
	g_assert_true(notified);
	g_assert_true(vboxmem_client_get_interactive(client));
	notified = FALSE;
	vboxmem_client_set_interactive(client, TRUE);
	g_assert_false(notified);

	/* root needs no authentication; the flag must not get in the way */
	machine = machine_create(client, "interactive");
	g_assert_cmpstr(vboxmem_machine_get_name(machine), ==, "interactive");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/client/new", test_client_new);
	g_test_add_func("/client/no-daemon", test_client_no_daemon);
	g_test_add_func("/client/create", test_client_create);
	g_test_add_func("/client/create-async", test_client_create_async);
	g_test_add_func("/client/modify", test_client_modify);
	g_test_add_func("/client/signals", test_client_signals);
	g_test_add_func("/client/errors", test_client_errors);
	g_test_add_func("/client/control-async", test_client_control_async);
	g_test_add_func("/client/unregister", test_client_unregister);
	g_test_add_func("/client/interactive", test_client_interactive);
	return g_test_run();
}
