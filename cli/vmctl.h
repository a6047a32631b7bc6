/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <vboxmem.h>

G_BEGIN_DECLS

#define VMCTL_MIB G_GUINT64_CONSTANT(1048576)

/* The exit status of vboxmemctl; documented in --help and vboxmemctl(1). */
typedef enum {
	VMCTL_EXIT_OK = 0,
	VMCTL_EXIT_FAILED = 1,
	VMCTL_EXIT_USAGE = 2,
	VMCTL_EXIT_NOT_AUTHORIZED = 3,
	VMCTL_EXIT_NO_SUCH_MACHINE = 4,
	VMCTL_EXIT_INVALID_ARGUMENT = 5,
	VMCTL_EXIT_INVALID_STATE = 6,
	VMCTL_EXIT_INSUFFICIENT_MEMORY = 7,
	VMCTL_EXIT_NOT_SUPPORTED = 8,
	VMCTL_EXIT_UNREACHABLE = 9,
} VmctlExit;

#define VMCTL_ERROR (vmctl_error_quark())

/* Errors found by vboxmemctl itself, before or instead of asking vboxmemd. */
typedef enum {
	VMCTL_ERROR_USAGE,
	VMCTL_ERROR_UNREACHABLE,
} VmctlError;

GQuark vmctl_error_quark(void);

typedef struct _VmctlContext VmctlContext;

typedef struct {
	const gchar *name;
	/* what follows "vboxmemctl VERB [OPTION…]" in the usage line */
	const gchar *parameters;
	const gchar *summary;
	const gchar *description;
	/* registers the polkit agent before talking to vboxmemd */
	gboolean needs_authorization;
	gboolean (*run)(VmctlContext *ctx, gint argc, gchar **argv, GError **error);
} VmctlVerb;

struct _VmctlContext {
	const VmctlVerb *verb;
	gboolean no_user_interaction;
	/* starts as the verb's; set by options that need it too, as showvminfo --log */
	gboolean needs_authorization;
	VboxmemClient *client;
};

/* vmctl-common.c */
gboolean vmctl_check_flags_without_values(const GOptionEntry *const *groups,
					  gboolean stop_at_command,
					  gint argc,
					  gchar **argv,
					  GError **error);
gboolean vmctl_parse_verb_options(VmctlContext *ctx,
				  const GOptionEntry *entries,
				  gint *argc,
				  gchar ***argv,
				  gint min_args,
				  gint max_args,
				  GError **error);
gboolean vmctl_parse_mib(const gchar *option, const gchar *value, guint64 *bytes, GError **error);
gboolean vmctl_parse_count(const gchar *option, const gchar *value, guint32 *count, GError **error);
gboolean vmctl_parse_on_off(const gchar *option, const gchar *value, gboolean *on, GError **error);
gchar *vmctl_absolute_path(const gchar *path);
gchar *vmctl_escape(const gchar *value, gboolean escape_quotes);
VboxmemClient *vmctl_get_client(VmctlContext *ctx, GError **error);
VboxmemMachine *vmctl_find_machine(VmctlContext *ctx, const gchar *name, GError **error);
VmctlExit vmctl_report_error(const VmctlVerb *verb, const GError *error);
gchar *vmctl_format_mib(guint64 bytes);
gboolean
vmctl_lookup_word(const gchar *word, const gchar *const *words, guint n_words, guint *index);

/* vmctl-agent.c */
void vmctl_agent_start(const gchar *verb_name);
void vmctl_agent_stop(void);

/* vmctl-vm.c */
gboolean vmctl_cmd_createvm(VmctlContext *ctx, gint argc, gchar **argv, GError **error);
gboolean vmctl_cmd_modifyvm(VmctlContext *ctx, gint argc, gchar **argv, GError **error);
gboolean vmctl_cmd_unregistervm(VmctlContext *ctx, gint argc, gchar **argv, GError **error);
gboolean vmctl_cmd_startvm(VmctlContext *ctx, gint argc, gchar **argv, GError **error);
gboolean vmctl_cmd_controlvm(VmctlContext *ctx, gint argc, gchar **argv, GError **error);

/* vmctl-info.c */
gboolean vmctl_cmd_list(VmctlContext *ctx, gint argc, gchar **argv, GError **error);
gboolean vmctl_cmd_showvminfo(VmctlContext *ctx, gint argc, gchar **argv, GError **error);

/* vmctl-metrics.c */
gboolean vmctl_cmd_metrics(VmctlContext *ctx, gint argc, gchar **argv, GError **error);

G_END_DECLS
