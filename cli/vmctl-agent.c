/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <polkit/polkit.h>
#define POLKIT_AGENT_I_KNOW_API_IS_SUBJECT_TO_CHANGE
#include <polkitagent/polkitagent.h>

#include "vmctl.h"

/*
 * A polkit text agent for this process only, so that vboxmemd's polkit checks
 * can ask for a password on the terminal vboxmemctl runs on.
 *
 * The text listener turns off echo while it reads a password and does not
 * restore it when the process is interrupted, so Ctrl-C during the prompt is
 * handled here: restore the terminal and fail as a dismissed authentication.
 */

static PolkitAgentListener *vmctl_agent_listener = NULL;
static gpointer vmctl_agent_handle = NULL;
static gint vmctl_agent_tty_fd = -1;
static struct termios vmctl_agent_tty_attrs;
static volatile sig_atomic_t vmctl_agent_prompting = 0;
static gchar *vmctl_agent_cancel_message = NULL;

static void
vmctl_agent_on_sigint(gint signum)
{
	if (vmctl_agent_prompting) {
		ssize_t written G_GNUC_UNUSED;
		tcsetattr(vmctl_agent_tty_fd, TCSAFLUSH, &vmctl_agent_tty_attrs);
		written = write(STDERR_FILENO,
				vmctl_agent_cancel_message,
				strlen(vmctl_agent_cancel_message));
		_exit(VMCTL_EXIT_NOT_AUTHORIZED);
	}
	signal(signum, SIG_DFL);
	raise(signum);
}

/* emitted by the text listener around reading a password with echo off */
static void
vmctl_agent_on_tty_attrs_changed(PolkitAgentListener *listener,
				 gboolean echo_off,
				 gpointer user_data)
{
	if (!echo_off) {
		vmctl_agent_prompting = 0;
		return;
	}
	if (tcgetattr(vmctl_agent_tty_fd, &vmctl_agent_tty_attrs) == 0)
		vmctl_agent_prompting = 1;
}

static void
vmctl_agent_watch_tty(const gchar *verb_name)
{
	struct sigaction action = {.sa_handler = vmctl_agent_on_sigint};

	vmctl_agent_tty_fd = open(ctermid(NULL), O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (vmctl_agent_tty_fd < 0)
		return;
	vmctl_agent_cancel_message =
		g_strdup_printf("\nvboxmemctl: %s: %s\n", verb_name, _("authentication cancelled"));
	g_signal_connect(vmctl_agent_listener,
			 "tty-attrs-changed",
			 G_CALLBACK(vmctl_agent_on_tty_attrs_changed),
			 NULL);
	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, NULL);
}

static gboolean
vmctl_agent_register(GError **error)
{
	g_autoptr(PolkitSubject) subject = NULL;

	vmctl_agent_listener = polkit_agent_text_listener_new(NULL, error);
	if (vmctl_agent_listener == NULL)
		return FALSE;
	subject = polkit_unix_process_new_for_owner(getpid(), 0, getuid());
	vmctl_agent_handle =
		polkit_agent_listener_register(vmctl_agent_listener,
					       POLKIT_AGENT_REGISTER_FLAGS_RUN_IN_THREAD,
					       subject,
					       NULL,
					       NULL,
					       error);
	if (vmctl_agent_handle == NULL) {
		g_clear_object(&vmctl_agent_listener);
		return FALSE;
	}
	return TRUE;
}

/*
 * Registers the text agent for this process. Without one, vboxmemd's request
 * fails as not authorized, which is reported then; so a failure here is only
 * a warning.
 */
void
vmctl_agent_start(const gchar *verb_name)
{
	g_autoptr(GError) error = NULL;

	if (vmctl_agent_listener != NULL)
		return;
	if (!vmctl_agent_register(&error)) {
		g_autofree gchar *message = vmctl_escape(error->message, FALSE);
		fprintf(stderr,
			"vboxmemctl: %s: %s: %s\n",
			verb_name,
			_("warning: cannot start the authentication agent"),
			message);
		return;
	}
	vmctl_agent_watch_tty(verb_name);
}

void
vmctl_agent_stop(void)
{
	if (vmctl_agent_handle != NULL) {
		signal(SIGINT, SIG_DFL);
		polkit_agent_listener_unregister(vmctl_agent_handle);
		vmctl_agent_handle = NULL;
	}
	g_clear_object(&vmctl_agent_listener);
	if (vmctl_agent_tty_fd >= 0) {
		close(vmctl_agent_tty_fd);
		vmctl_agent_tty_fd = -1;
	}
	g_clear_pointer(&vmctl_agent_cancel_message, g_free);
}
