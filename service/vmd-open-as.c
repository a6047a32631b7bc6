/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vboxmem-error.h"
#include "vmd-open-as.h"

/* An open that takes longer (a hung network file system) is given up. */
#define OPEN_TIMEOUT_MS 5000
#define MAX_GROUPS 256

typedef struct {
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	int n_groups;
} Identity;

static gboolean
look_up_identity(guint32 uid, Identity *identity)
{
	g_autofree gchar *buffer = g_malloc(16384);
	struct passwd entry;
	struct passwd *found = NULL;

	if (getpwuid_r(uid, &entry, buffer, 16384, &found) != 0 || found == NULL)
		return FALSE;
	identity->uid = uid;
	identity->gid = entry.pw_gid;
	identity->n_groups = MAX_GROUPS;
	if (getgrouplist(entry.pw_name, entry.pw_gid, identity->groups, &identity->n_groups) < 0)
		return FALSE;
	return TRUE;
}

/* In the child, which has one thread: only system calls from here on. */
static void G_GNUC_NORETURN
open_in_child(int reply, const gchar *path, const Identity *identity)
{
	int error = 0;
	int fd = -1;
	struct stat st;
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = {&error, sizeof(error)};
	struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1};

	if (setgroups((size_t)identity->n_groups, identity->groups) != 0 ||
	    setresgid(identity->gid, identity->gid, identity->gid) != 0 ||
	    setresuid(identity->uid, identity->uid, identity->uid) != 0)
		error = EPERM;
	else if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
		error = errno;
	else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		error = EINVAL;
	if (error == 0) {
		memset(&control, 0, sizeof(control));
		message.msg_control = control.space;
		message.msg_controllen = sizeof(control.space);
		control.header.cmsg_level = SOL_SOCKET;
		control.header.cmsg_type = SCM_RIGHTS;
		control.header.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&control.header), &fd, sizeof(int));
	}
	_exit(sendmsg(reply, &message, MSG_NOSIGNAL) == sizeof(error) ? 0 : 1);
}

/* The descriptor the child sent, or -1 with *@child_error set to why it could not open. */
static int
receive_fd(int socket, int *child_error)
{
	struct pollfd poll_fd = {socket, POLLIN, 0};
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = {child_error, sizeof(*child_error)};
	struct msghdr message = {.msg_iov = &iov,
				 .msg_iovlen = 1,
				 .msg_control = control.space,
				 .msg_controllen = sizeof(control.space)};
	struct cmsghdr *header;
	int fd = -1;

	*child_error = ETIMEDOUT;
	if (poll(&poll_fd, 1, OPEN_TIMEOUT_MS) != 1 ||
	    recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != sizeof(*child_error))
		return -1;
	header = CMSG_FIRSTHDR(&message);
	if (header != NULL && header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS &&
	    header->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(header), sizeof(int));
	if (*child_error == 0 && fd < 0)
		*child_error = EIO;
	return fd;
}

static int
open_as(const gchar *path, const Identity *identity, int *child_error)
{
	int sockets[2];
	pid_t pid;
	int fd;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
		*child_error = errno;
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		close(sockets[0]);
		open_in_child(sockets[1], path, identity);
	}
	close(sockets[1]);
	if (pid < 0) {
		*child_error = errno;
		close(sockets[0]);
		return -1;
	}
	fd = receive_fd(sockets[0], child_error);
	close(sockets[0]);
	if (fd < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return fd;
}

static const gchar *
failure_text(int child_error)
{
	switch (child_error) {
	case ELOOP:
		return "it is a symbolic link; name the file itself";
	case ETIMEDOUT:
		return "opening it took too long";
	default:
		return "no readable regular file there";
	}
}

gint
vmd_open_as_user(const gchar *path, guint32 uid, const gchar *what, GError **error)
{
	Identity identity;
	int child_error = 0;
	int fd;

	if (!look_up_identity(uid, &identity)) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_FAILED,
			    "%s: uid %u has no user entry to open files with",
			    what,
			    uid);
		return -1;
	}
	fd = open_as(path, &identity, &child_error);
	if (fd >= 0)
		return fd;
	/* Missing and unreadable read alike: the answer must not reveal other users' files. */
	g_set_error(error,
		    VBOXMEM_ERROR,
		    VBOXMEM_ERROR_INVALID_ARGUMENT,
		    "%s: '%s' cannot be read by uid %u: %s",
		    what,
		    path,
		    uid,
		    failure_text(child_error));
	return -1;
}

gboolean
vmd_check_paths_readable(GVariant *changes, guint32 uid, GError **error)
{
	static const gchar *const keys[] = {"Kernel", "Initrd"};

	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		const gchar *path = NULL;
		gint fd;

		if (!g_variant_lookup(changes, keys[i], "&s", &path) || path[0] == '\0')
			continue;
		fd = vmd_open_as_user(path, uid, keys[i], error);
		if (fd < 0)
			return FALSE;
		close(fd);
	}
	return TRUE;
}
