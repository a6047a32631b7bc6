/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmctl.h"

G_DEFINE_QUARK(vmctl - error - quark, vmctl_error)

typedef struct {
	GQuark (*domain)(void);
	gint code; /* -1 matches every code of the domain */
	VmctlExit exit_code;
} VmctlExitMapping;

static const VmctlExitMapping vmctl_exit_mappings[] = {
	{vmctl_error_quark, VMCTL_ERROR_USAGE, VMCTL_EXIT_USAGE},
	{vmctl_error_quark, VMCTL_ERROR_UNREACHABLE, VMCTL_EXIT_UNREACHABLE},
	{g_option_error_quark, -1, VMCTL_EXIT_USAGE},
	{vboxmem_error_quark, VBOXMEM_ERROR_NOT_AUTHORIZED, VMCTL_EXIT_NOT_AUTHORIZED},
	{vboxmem_error_quark, VBOXMEM_ERROR_NOT_AUTHORIZED_CAN_OBTAIN, VMCTL_EXIT_NOT_AUTHORIZED},
	{vboxmem_error_quark, VBOXMEM_ERROR_NOT_AUTHORIZED_DISMISSED, VMCTL_EXIT_NOT_AUTHORIZED},
	{vboxmem_error_quark, VBOXMEM_ERROR_POLKIT_UNAVAILABLE, VMCTL_EXIT_UNREACHABLE},
	{vboxmem_error_quark, VBOXMEM_ERROR_NO_SUCH_MACHINE, VMCTL_EXIT_NO_SUCH_MACHINE},
	{vboxmem_error_quark, VBOXMEM_ERROR_ALREADY_EXISTS, VMCTL_EXIT_INVALID_ARGUMENT},
	{vboxmem_error_quark, VBOXMEM_ERROR_INVALID_ARGUMENT, VMCTL_EXIT_INVALID_ARGUMENT},
	{vboxmem_error_quark, VBOXMEM_ERROR_INVALID_STATE, VMCTL_EXIT_INVALID_STATE},
	{vboxmem_error_quark, VBOXMEM_ERROR_INSUFFICIENT_MEMORY, VMCTL_EXIT_INSUFFICIENT_MEMORY},
	{vboxmem_error_quark, VBOXMEM_ERROR_NOT_SUPPORTED, VMCTL_EXIT_NOT_SUPPORTED},
	{g_dbus_error_quark, G_DBUS_ERROR_ACCESS_DENIED, VMCTL_EXIT_NOT_AUTHORIZED},
	{g_dbus_error_quark, G_DBUS_ERROR_SERVICE_UNKNOWN, VMCTL_EXIT_UNREACHABLE},
	{g_dbus_error_quark, G_DBUS_ERROR_NAME_HAS_NO_OWNER, VMCTL_EXIT_UNREACHABLE},
	{g_dbus_error_quark, G_DBUS_ERROR_DISCONNECTED, VMCTL_EXIT_UNREACHABLE},
	{g_dbus_error_quark, G_DBUS_ERROR_UNKNOWN_OBJECT, VMCTL_EXIT_NO_SUCH_MACHINE},
	{g_io_error_quark, G_IO_ERROR_CLOSED, VMCTL_EXIT_UNREACHABLE},
};

static VmctlExit
vmctl_exit_code_for_error(const GError *error)
{
	for (guint i = 0; i < G_N_ELEMENTS(vmctl_exit_mappings); i++) {
		const VmctlExitMapping *mapping = &vmctl_exit_mappings[i];
		if (error->domain != mapping->domain())
			continue;
		if (mapping->code == -1 || mapping->code == error->code)
			return mapping->exit_code;
	}
	return VMCTL_EXIT_FAILED;
}

static void
vmctl_append_escaped_char(GString *str, guchar c, gboolean escape_quotes)
{
	switch (c) {
	case '\n':
		g_string_append(str, "\\n");
		return;
	case '\t':
		g_string_append(str, "\\t");
		return;
	case '\r':
		g_string_append(str, "\\r");
		return;
	case '"':
	case '\\':
		if (escape_quotes)
			g_string_append_c(str, '\\');
		g_string_append_c(str, c);
		return;
	default:
		if (c < 0x20 || c == 0x7f)
			g_string_append_printf(str, "\\x%02x", c);
		else
			g_string_append_c(str, c);
	}
}

/*
 * Characters that change how the rest of a line looks without showing
 * themselves: bidirectional overrides and isolates, zero-width characters,
 * C1 controls and line separators. A name made of them could pass for
 * another machine's.
 */
static gboolean
is_invisible(gunichar c)
{
	return (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029 ||
	       g_unichar_type(c) == G_UNICODE_FORMAT;
}

/* Appends the valid UTF-8 text from @p to @end, escaping what is not safe to show. */
static void
vmctl_append_escaped_utf8(GString *str, const gchar *p, const gchar *end, gboolean escape_quotes)
{
	while (p < end) {
		gunichar c = g_utf8_get_char(p);

		if (c < 0x80)
			vmctl_append_escaped_char(str, (guchar)c, escape_quotes);
		else if (is_invisible(c))
			g_string_append_printf(str, "\\u%04x", c);
		else
			g_string_append_len(str, p, g_utf8_next_char(p) - p);
		p = g_utf8_next_char(p);
	}
}

/*
 * Makes @value safe to print on one line: control characters, invisible
 * formatting characters and bytes that are not UTF-8 become escapes; with
 * @escape_quotes also '"' and '\', as in VBoxManage's machine-readable output.
 */
gchar *
vmctl_escape(const gchar *value, gboolean escape_quotes)
{
	GString *str = g_string_new(NULL);
	const gchar *end = NULL;
	const gchar *p = value;

	while (*p != '\0') {
		if (g_utf8_validate(p, -1, &end)) {
			vmctl_append_escaped_utf8(str, p, p + strlen(p), escape_quotes);
			break;
		}
		vmctl_append_escaped_utf8(str, p, end, escape_quotes);
		g_string_append_printf(str, "\\x%02x", (guchar)*end);
		p = end + 1;
	}
	return g_string_free(str, FALSE);
}

static gchar *
vmctl_usage_line(const VmctlVerb *verb)
{
	if (verb == NULL)
		return g_strdup("vboxmemctl [OPTION...] COMMAND [ARG...]");
	return g_strdup_printf("vboxmemctl %s [OPTION...] %s", verb->name, verb->parameters);
}

/*
 * Prints @error as one line on stderr and returns the exit status it maps to.
 * Usage errors name the usage; authorization errors say how to get the right.
 */
VmctlExit
vmctl_report_error(const VmctlVerb *verb, const GError *error)
{
	g_autoptr(GError) error_copy = g_error_copy(error);
	g_autofree gchar *message = NULL;
	g_autofree gchar *prefix = NULL;
	const gchar *hint = "";
	g_autofree gchar *hint_owned = NULL;
	VmctlExit exit_code = vmctl_exit_code_for_error(error);

	if (g_dbus_error_is_remote_error(error_copy))
		g_dbus_error_strip_remote_error(error_copy);
	message = vmctl_escape(error_copy->message, FALSE);
	prefix = verb != NULL ? g_strdup_printf("vboxmemctl: %s: ", verb->name)
			      : g_strdup("vboxmemctl: ");

	if (exit_code == VMCTL_EXIT_USAGE) {
		g_autofree gchar *usage = vmctl_usage_line(verb);
		hint_owned = g_strdup_printf(" (usage: %s)", usage);
		hint = hint_owned;
	} else if (exit_code == VMCTL_EXIT_NOT_AUTHORIZED) {
		/* The example is installed with vboxmem, not present in a build tree. */
		if (g_file_test(VMCTL_POLKIT_RULES_EXAMPLE, G_FILE_TEST_IS_REGULAR))
			hint_owned =
				g_strdup_printf(_(" (try as root, or with a polkit rule; see %s)"),
						VMCTL_POLKIT_RULES_EXAMPLE);
		else
			hint_owned = g_strdup(_(" (try as root, or with a polkit rule; see "
						"AUTHORIZATION in vboxmemctl(1))"));
		hint = hint_owned;
	}
	fprintf(stderr, "%s%s%s\n", prefix, message, hint);
	return exit_code;
}

/* The entry of @groups whose long name @arg ("--NAME" or "--NAME=...") gives, or NULL. */
static const GOptionEntry *
vmctl_find_long_option(const GOptionEntry *const *groups, const gchar *arg)
{
	if (!g_str_has_prefix(arg, "--"))
		return NULL;
	for (const GOptionEntry *const *group = groups; *group != NULL; group++) {
		for (const GOptionEntry *entry = *group; entry->long_name != NULL; entry++) {
			gsize length = strlen(entry->long_name);

			if (strncmp(arg + 2, entry->long_name, length) == 0 &&
			    (arg[2 + length] == '\0' || arg[2 + length] == '='))
				return entry;
		}
	}
	return NULL;
}

/*
 * GOption takes "--log=no" for "--log": a flag given a value is refused
 * instead, whatever the value says. The value of an option that takes one
 * and arguments after "--" are not looked at; with @stop_at_command, nor is
 * anything from the first argument that is not an option on.
 */
gboolean
vmctl_check_flags_without_values(const GOptionEntry *const *groups,
				 gboolean stop_at_command,
				 gint argc,
				 gchar **argv,
				 GError **error)
{
	for (gint i = 1; i < argc && g_strcmp0(argv[i], "--") != 0; i++) {
		const GOptionEntry *entry = vmctl_find_long_option(groups, argv[i]);
		g_autofree gchar *shown = NULL;

		if (entry == NULL) {
			if (stop_at_command && argv[i][0] != '-')
				break;
			continue;
		}
		if (entry->arg != G_OPTION_ARG_NONE) {
			i += strchr(argv[i], '=') == NULL; /* its value is the next argument */
			continue;
		}
		if (strchr(argv[i], '=') == NULL)
			continue;
		shown = vmctl_escape(argv[i], FALSE);
		g_set_error(error,
			    G_OPTION_ERROR,
			    G_OPTION_ERROR_BAD_VALUE,
			    _("--%s takes no value: %s"),
			    entry->long_name,
			    shown);
		return FALSE;
	}
	return TRUE;
}

/*
 * The verb's context ignores unknown options so that a negative number reaches
 * the verb's own check ("guestmemoryballoon -1" is a bad size, not an option);
 * anything else left that starts with '-' is an unknown option. GOption keeps
 * "--" when an argument starting with '-' follows it: what follows is taken
 * literally and "--" itself is removed.
 */
static gboolean
vmctl_check_positional(gint *argc, gchar **argv, GError **error)
{
	for (gint i = 1; i < *argc; i++) {
		const gchar *arg = argv[i];
		if (g_strcmp0(arg, "--") == 0) {
			memmove(&argv[i], &argv[i + 1], (*argc - i) * sizeof(gchar *));
			(*argc)--;
			return TRUE;
		}
		if (arg[0] == '-' && arg[1] != '\0' && !g_ascii_isdigit(arg[1])) {
			g_autofree gchar *shown = vmctl_escape(arg, FALSE);
			g_set_error(error,
				    G_OPTION_ERROR,
				    G_OPTION_ERROR_UNKNOWN_OPTION,
				    _("Unknown option %s"),
				    shown);
			return FALSE;
		}
	}
	return TRUE;
}

/*
 * Parses the options of the current verb with a GOptionContext made for it,
 * so that "vboxmemctl VERB --help" documents the verb, and checks the number
 * of positional arguments left in @argv (after the verb itself).
 */
gboolean
vmctl_parse_verb_options(VmctlContext *ctx,
			 const GOptionEntry *entries,
			 gint *argc,
			 gchar ***argv,
			 gint min_args,
			 gint max_args,
			 GError **error)
{
	const GOptionEntry common_entries[] = {
		{"no-user-interaction",
		 0,
		 0,
		 G_OPTION_ARG_NONE,
		 &ctx->no_user_interaction,
		 N_("Never ask for authentication; fail with exit status 3 instead"),
		 NULL},
		{NULL}};
	g_autoptr(GOptionContext) option_context = g_option_context_new(ctx->verb->parameters);
	g_autofree gchar *prgname = g_strdup_printf("vboxmemctl %s", ctx->verb->name);
	const GOptionEntry *const groups[] = {
		entries != NULL ? entries : common_entries, common_entries, NULL};
	gint n_args;

	g_set_prgname(prgname);
	g_option_context_set_translation_domain(option_context, GETTEXT_PACKAGE);
	g_option_context_set_summary(option_context, _(ctx->verb->summary));
	if (ctx->verb->description != NULL)
		g_option_context_set_description(option_context, _(ctx->verb->description));
	if (entries != NULL)
		g_option_context_add_main_entries(option_context, entries, GETTEXT_PACKAGE);
	g_option_context_add_main_entries(option_context, common_entries, GETTEXT_PACKAGE);
	g_option_context_set_ignore_unknown_options(option_context, TRUE);
	if (!vmctl_check_flags_without_values(groups, FALSE, *argc, *argv, error) ||
	    !g_option_context_parse(option_context, argc, argv, error) ||
	    !vmctl_check_positional(argc, *argv, error))
		return FALSE;

	n_args = *argc - 1;
	if (n_args < min_args) {
		g_set_error_literal(error, VMCTL_ERROR, VMCTL_ERROR_USAGE, _("missing argument"));
		return FALSE;
	}
	if (max_args >= 0 && n_args > max_args) {
		g_autofree gchar *extra = vmctl_escape((*argv)[max_args + 1], FALSE);
		g_set_error(error,
			    VMCTL_ERROR,
			    VMCTL_ERROR_USAGE,
			    _("unexpected argument \"%s\""),
			    extra);
		return FALSE;
	}
	return TRUE;
}

static gboolean
vmctl_parse_decimal(const gchar *value, guint64 max, guint64 *result)
{
	if (value == NULL || value[0] == '\0')
		return FALSE;
	for (const gchar *p = value; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p))
			return FALSE;
	}
	return g_ascii_string_to_unsigned(value, 10, 0, max, result, NULL);
}

gboolean
vmctl_parse_mib(const gchar *option, const gchar *value, guint64 *bytes, GError **error)
{
	const guint64 max_mib = G_MAXUINT64 / VMCTL_MIB;
	guint64 mib = 0;

	if (!vmctl_parse_decimal(value, max_mib, &mib)) {
		g_autofree gchar *shown = vmctl_escape(value != NULL ? value : "", FALSE);
		g_set_error(error,
			    VMCTL_ERROR,
			    VMCTL_ERROR_USAGE,
			    _("%s needs a size in MiB (digits only, at most %" G_GUINT64_FORMAT
			      "), not \"%s\""),
			    option,
			    max_mib,
			    shown);
		return FALSE;
	}
	*bytes = mib * VMCTL_MIB;
	return TRUE;
}

gboolean
vmctl_parse_count(const gchar *option, const gchar *value, guint32 *count, GError **error)
{
	guint64 number = 0;

	if (!vmctl_parse_decimal(value, G_MAXUINT32, &number)) {
		g_autofree gchar *shown = vmctl_escape(value != NULL ? value : "", FALSE);
		g_set_error(error,
			    VMCTL_ERROR,
			    VMCTL_ERROR_USAGE,
			    _("%s needs a whole number, not \"%s\""),
			    option,
			    shown);
		return FALSE;
	}
	*count = (guint32)number;
	return TRUE;
}

gboolean
vmctl_parse_on_off(const gchar *option, const gchar *value, gboolean *on, GError **error)
{
	if (g_strcmp0(value, "on") == 0) {
		*on = TRUE;
		return TRUE;
	}
	if (g_strcmp0(value, "off") == 0) {
		*on = FALSE;
		return TRUE;
	}
	{
		g_autofree gchar *shown = vmctl_escape(value != NULL ? value : "", FALSE);
		g_set_error(error,
			    VMCTL_ERROR,
			    VMCTL_ERROR_USAGE,
			    _("%s needs \"on\" or \"off\", not \"%s\""),
			    option,
			    shown);
	}
	return FALSE;
}

/*
 * Makes a relative @path absolute against the current directory, dropping
 * "." components but keeping "..", whose meaning depends on symbolic links.
 * The empty path (the default test guest) and absolute paths are kept.
 */
gchar *
vmctl_absolute_path(const gchar *path)
{
	g_autofree gchar *cwd = NULL;
	g_auto(GStrv) components = NULL;
	GString *result;

	if (path[0] == '\0' || g_path_is_absolute(path))
		return g_strdup(path);

	cwd = g_get_current_dir();
	result = g_string_new(cwd);
	components = g_strsplit(path, "/", -1);
	for (guint i = 0; components[i] != NULL; i++) {
		if (components[i][0] == '\0' || g_strcmp0(components[i], ".") == 0)
			continue;
		if (result->len == 0 || result->str[result->len - 1] != '/')
			g_string_append_c(result, '/');
		g_string_append(result, components[i]);
	}
	return g_string_free(result, FALSE);
}

VboxmemClient *
vmctl_get_client(VmctlContext *ctx, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gboolean interactive;

	if (ctx->client != NULL)
		return ctx->client;

	ctx->client = vboxmem_client_new_sync(NULL, &error_local);
	if (ctx->client == NULL) {
		g_dbus_error_strip_remote_error(error_local);
		g_set_error(error,
			    VMCTL_ERROR,
			    VMCTL_ERROR_UNREACHABLE,
			    _("cannot connect to vboxmemd: %s"),
			    error_local->message);
		return NULL;
	}

	interactive = !ctx->no_user_interaction && isatty(STDIN_FILENO);
	vboxmem_client_set_interactive(ctx->client, interactive);
	/* polkit always authorizes root: no agent, and no warning without polkitd */
	if (interactive && ctx->needs_authorization && getuid() != 0)
		vmctl_agent_start(ctx->verb->name);
	return ctx->client;
}

VboxmemMachine *
vmctl_find_machine(VmctlContext *ctx, const gchar *name, GError **error)
{
	VboxmemClient *client = vmctl_get_client(ctx, error);

	if (client == NULL)
		return NULL;
	return vboxmem_client_find_machine_sync(client, name, NULL, error);
}

/* A size for people: whole MiB when it is one, else two decimals. */
gchar *
vmctl_format_mib(guint64 bytes)
{
	if (bytes % VMCTL_MIB == 0)
		return g_strdup_printf("%" G_GUINT64_FORMAT " MiB", bytes / VMCTL_MIB);
	return g_strdup_printf("%.2f MiB", (gdouble)bytes / VMCTL_MIB);
}

/* The index of @word in @words, for arguments that name one of a few things. */
gboolean
vmctl_lookup_word(const gchar *word, const gchar *const *words, guint n_words, guint *index)
{
	for (guint i = 0; i < n_words; i++) {
		if (g_strcmp0(word, words[i]) == 0) {
			*index = i;
			return TRUE;
		}
	}
	return FALSE;
}
