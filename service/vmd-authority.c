/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <polkit/polkit.h>

#include "vboxmem-error.h"
#include "vmd-authority.h"

#define ACTION_CONTROL_OTHER "org.vboxmem.machine.control-other"

/*
 * Decides whether the sender of a method call may do what it asks: first its
 * uid from the bus, then polkit for the action, then polkit again for
 * control-other when the machine belongs to someone else.
 */
struct _VmdAuthority {
	GObject parent_instance;
	PolkitAuthority *polkit;
};

G_DEFINE_TYPE(VmdAuthority, vmd_authority, G_TYPE_OBJECT)

typedef struct {
	VmdAuthority *self;
	GDBusMethodInvocation *invocation;
	gchar *action_id;
	guint32 owner;
	gchar *machine_name;
	guint32 caller_uid;
	gboolean checked_other;
} CheckData;

static void
check_data_free(CheckData *data)
{
	g_object_unref(data->self);
	g_object_unref(data->invocation);
	g_free(data->action_id);
	g_free(data->machine_name);
	g_free(data);
}

static gboolean
allows_interaction(GDBusMethodInvocation *invocation)
{
	GDBusMessage *message = g_dbus_method_invocation_get_message(invocation);
	return (g_dbus_message_get_flags(message) &
		G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
}

static void check_next_action(GTask *task);

static GError *
error_for_result(PolkitAuthorizationResult *result, const gchar *action_id)
{
	if (polkit_authorization_result_get_is_challenge(result))
		return g_error_new(VBOXMEM_ERROR,
				   VBOXMEM_ERROR_NOT_AUTHORIZED_CAN_OBTAIN,
				   "Authentication is required for %s",
				   action_id);
	if (polkit_authorization_result_get_dismissed(result))
		return g_error_new(VBOXMEM_ERROR,
				   VBOXMEM_ERROR_NOT_AUTHORIZED_DISMISSED,
				   "The authentication for %s was dismissed",
				   action_id);
	return g_error_new(
		VBOXMEM_ERROR, VBOXMEM_ERROR_NOT_AUTHORIZED, "Not authorized for %s", action_id);
}

static void
polkit_check_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	CheckData *data = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(PolkitAuthorizationResult) result = NULL;
	const gchar *action_id = data->checked_other ? ACTION_CONTROL_OTHER : data->action_id;

	result = polkit_authority_check_authorization_finish(POLKIT_AUTHORITY(source), res, &error);
	if (result == NULL) {
		g_task_return_new_error(task,
					VBOXMEM_ERROR,
					VBOXMEM_ERROR_POLKIT_UNAVAILABLE,
					"Could not check authorization with polkit: %s",
					error->message);
		return;
	}
	if (!polkit_authorization_result_get_is_authorized(result)) {
		g_task_return_error(task, error_for_result(result, action_id));
		return;
	}
	if (!data->checked_other && data->owner != VMD_AUTHORITY_NO_OWNER &&
	    data->owner != data->caller_uid) {
		data->checked_other = TRUE;
		check_next_action(g_steal_pointer(&task));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

static void
check_next_action(GTask *task)
{
	CheckData *data = g_task_get_task_data(task);
	const gchar *sender = g_dbus_method_invocation_get_sender(data->invocation);
	g_autoptr(PolkitSubject) subject = polkit_system_bus_name_new(sender);
	g_autoptr(PolkitDetails) details = polkit_details_new();
	PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;

	if (data->machine_name != NULL)
		polkit_details_insert(details, "machine", data->machine_name);
	if (allows_interaction(data->invocation))
		flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;
	polkit_authority_check_authorization(data->self->polkit,
					     subject,
					     data->checked_other ? ACTION_CONTROL_OTHER
								 : data->action_id,
					     details,
					     flags,
					     g_task_get_cancellable(task),
					     polkit_check_cb,
					     task);
}

static void
polkit_authority_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	CheckData *data = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(PolkitAuthority) polkit = polkit_authority_get_finish(res, &error);

	if (polkit == NULL) {
		g_task_return_new_error(task,
					VBOXMEM_ERROR,
					VBOXMEM_ERROR_POLKIT_UNAVAILABLE,
					"Could not reach polkit: %s",
					error->message);
		return;
	}
	if (data->self->polkit == NULL)
		data->self->polkit = g_steal_pointer(&polkit);
	check_next_action(g_steal_pointer(&task));
}

static void
caller_uid_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	CheckData *data = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;

	reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	if (reply == NULL) {
		g_task_return_new_error(task,
					VBOXMEM_ERROR,
					VBOXMEM_ERROR_FAILED,
					"Could not identify the caller: %s",
					error->message);
		return;
	}
	g_variant_get(reply, "(u)", &data->caller_uid);
	/* No action: the owner may, anyone else needs control-other. */
	if (data->action_id == NULL) {
		if (data->caller_uid == data->owner) {
			g_task_return_boolean(task, TRUE);
			return;
		}
		data->checked_other = TRUE;
	}
	if (data->self->polkit == NULL) {
		GCancellable *cancellable = g_task_get_cancellable(task);
		polkit_authority_get_async(
			cancellable, polkit_authority_cb, g_steal_pointer(&task));
		return;
	}
	check_next_action(g_steal_pointer(&task));
}

static void
authority_check(VmdAuthority *self,
		GDBusMethodInvocation *invocation,
		const gchar *action_id,
		guint32 owner,
		const gchar *machine_name,
		GCancellable *cancellable,
		GAsyncReadyCallback callback,
		gpointer user_data)
{
	GTask *task = g_task_new(self, cancellable, callback, user_data);
	CheckData *data = g_new0(CheckData, 1);

	data->self = g_object_ref(self);
	data->invocation = g_object_ref(invocation);
	data->action_id = g_strdup(action_id);
	data->owner = owner;
	data->machine_name = g_strdup(machine_name);
	g_task_set_task_data(task, data, (GDestroyNotify)check_data_free);
	g_dbus_connection_call(
		g_dbus_method_invocation_get_connection(invocation),
		"org.freedesktop.DBus",
		"/org/freedesktop/DBus",
		"org.freedesktop.DBus",
		"GetConnectionUnixUser",
		g_variant_new("(s)", g_dbus_method_invocation_get_sender(invocation)),
		G_VARIANT_TYPE("(u)"),
		G_DBUS_CALL_FLAGS_NONE,
		-1,
		cancellable,
		caller_uid_cb,
		task);
}

static gboolean
authority_check_finish(VmdAuthority *self, GAsyncResult *res, guint32 *caller_uid, GError **error)
{
	CheckData *data = g_task_get_task_data(G_TASK(res));

	if (!g_task_propagate_boolean(G_TASK(res), error))
		return FALSE;
	if (caller_uid != NULL)
		*caller_uid = data->caller_uid;
	return TRUE;
}

static void
vmd_authority_dispose(GObject *object)
{
	VmdAuthority *self = VMD_AUTHORITY(object);
	g_clear_object(&self->polkit);
	G_OBJECT_CLASS(vmd_authority_parent_class)->dispose(object);
}

static void
vmd_authority_class_init(VmdAuthorityClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = vmd_authority_dispose;
}

static void
vmd_authority_init(VmdAuthority *self)
{
}

VmdAuthority *
vmd_authority_new(void)
{
	return g_object_new(VMD_TYPE_AUTHORITY, NULL);
}

typedef struct {
	GObject *target;
	GDBusMethodInvocation *invocation;
	GVariant *args;
	VmdAuthorizedFunc func;
} RunData;

static void
run_authorized_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	RunData *run = user_data;
	g_autoptr(GError) error = NULL;
	guint32 caller_uid = 0;

	if (authority_check_finish(VMD_AUTHORITY(source), res, &caller_uid, &error))
		run->func(run->target, run->invocation, run->args, caller_uid);
	else
		g_dbus_method_invocation_return_gerror(run->invocation, error);
	g_object_unref(run->target);
	g_object_unref(run->invocation);
	g_variant_unref(run->args);
	g_free(run);
}

/* Checks the caller, then either runs @func or returns the refusal to the caller. */
void
vmd_authority_run_authorized(VmdAuthority *self,
			     GDBusMethodInvocation *invocation,
			     const gchar *action_id,
			     guint32 owner,
			     const gchar *machine_name,
			     gpointer target,
			     GVariant *args,
			     VmdAuthorizedFunc func)
{
	RunData *run = g_new0(RunData, 1);

	run->target = g_object_ref(target);
	run->invocation = g_object_ref(invocation);
	run->args = g_variant_ref_sink(args);
	run->func = func;
	authority_check(
		self, invocation, action_id, owner, machine_name, NULL, run_authorized_cb, run);
}
