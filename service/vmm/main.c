/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm-control.h"
#include "vmm-log.h"
#include "vmm-sandbox.h"
#include "vmm-vm.h"

#define DEFAULT_CONSOLE_LOG_LIMIT (UINT64_C(4) << 20)
#define EXIT_VM_FAILED 1
#define EXIT_USAGE 2
#define HANDSHAKE_TIMEOUT_MS 30000

typedef struct {
	const char *kernel;
	const char *initrd;
	int64_t kernel_fd;
	int64_t initrd_fd;
	const char *cmdline;
	int64_t memory_mib;
	int64_t cpus;
	int64_t balloon_mib;
	bool deflate_on_oom;
	bool free_page_reporting;
	const char *console_log;
	int64_t console_log_limit;
	int64_t control_fd;
	int64_t stats_interval_ms;
	const char *user;
	bool no_sandbox;
} Options;

typedef struct {
	VmmLoop *loop;
	VmmControl *control;
	int signal_fd;
	int exit_status;
} Worker;

#ifdef __SANITIZE_ADDRESS__
/*
 * LeakSanitizer checks at exit from a helper process whose system calls the
 * worker's seccomp filter refuses: in sanitizer builds, leave leaks to the
 * unit tests of the device models.
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_KERNEL_FD,
	OPT_INITRD_FD,
	OPT_CMDLINE,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_BALLOON,
	OPT_DEFLATE_ON_OOM,
	OPT_FREE_PAGE_REPORTING,
	OPT_STATS_INTERVAL,
	OPT_CONSOLE_LOG,
	OPT_CONSOLE_LOG_LIMIT,
	OPT_CONTROL_FD,
	OPT_USER,
	OPT_NO_SANDBOX,
	OPT_HELP,
};

static const struct option long_options[] = {
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"kernel-fd", required_argument, NULL, OPT_KERNEL_FD},
	{"initrd-fd", required_argument, NULL, OPT_INITRD_FD},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"balloon", required_argument, NULL, OPT_BALLOON},
	{"deflate-on-oom", no_argument, NULL, OPT_DEFLATE_ON_OOM},
	{"free-page-reporting", no_argument, NULL, OPT_FREE_PAGE_REPORTING},
	{"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
	{"console-log", required_argument, NULL, OPT_CONSOLE_LOG},
	{"console-log-limit", required_argument, NULL, OPT_CONSOLE_LOG_LIMIT},
	{"control-fd", required_argument, NULL, OPT_CONTROL_FD},
	{"user", required_argument, NULL, OPT_USER},
	{"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static const char usage_text[] =
	"Usage: vboxmem-vm --kernel FILE --memory MiB [OPTION...]\n"
	"Runs one KVM virtual machine for vboxmemd, or standalone for tests.\n"
	"\n"
	"  --kernel FILE             Guest kernel (ELF with a PVH or vboxmem entry note, or "
	"bzImage)\n"
	"  --initrd FILE             Initial ramdisk\n"
	"  --kernel-fd FD            Read the kernel from the inherited descriptor FD "
	"(--kernel names it)\n"
	"  --initrd-fd FD            Read the initrd from the inherited descriptor FD\n"
	"  --cmdline TEXT            Kernel command line\n"
	"  --memory MiB              Guest RAM in MiB (a multiple of 2)\n"
	"  --cpus N                  Number of vCPUs (default 1)\n"
	"  --balloon MiB             Balloon size to ask for at start, in MiB\n"
	"  --deflate-on-oom          Let the guest deflate the balloon when it runs out of memory\n"
	"  --free-page-reporting     Accept free page reports from the guest\n"
	"  --stats-interval MS       Ask the guest for statistics every MS milliseconds (0: "
	"never)\n"
	"  --console-log FILE        Write the serial console to FILE ('-' for standard output)\n"
	"  --console-log-limit BYTES Restart the console log at this many bytes\n"
	"  --control-fd FD           Take requests from the controller on the inherited "
	"SOCK_SEQPACKET socket FD\n"
	"  --user USER               When started as root, run as USER (default vboxmem)\n"
	"  --no-sandbox              Keep privileges and skip the seccomp filter (debugging only)\n"
	"  --help                    Show this help\n";

static bool
bad_value(VmmError **error, const char *message)
{
	return vmm_set_error_literal(error, EINVAL, message);
}

static bool
parse_number(const char *option, const char *text, int64_t *value, VmmError **error)
{
	char *end = NULL;
	long long parsed;

	errno = 0;
	parsed = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return vmm_set_error(
			error, EINVAL, "--%s: '%s' is not a whole number", option, text);
	*value = parsed;
	return true;
}

static bool
set_option(Options *opts, int option, const char *name, const char *arg, VmmError **error)
{
	switch (option) {
	case OPT_KERNEL:
		opts->kernel = arg;
		return true;
	case OPT_INITRD:
		opts->initrd = arg;
		return true;
	case OPT_KERNEL_FD:
		return parse_number(name, arg, &opts->kernel_fd, error);
	case OPT_INITRD_FD:
		return parse_number(name, arg, &opts->initrd_fd, error);
	case OPT_CMDLINE:
		opts->cmdline = arg;
		return true;
	case OPT_MEMORY:
		return parse_number(name, arg, &opts->memory_mib, error);
	case OPT_CPUS:
		return parse_number(name, arg, &opts->cpus, error);
	case OPT_BALLOON:
		return parse_number(name, arg, &opts->balloon_mib, error);
	case OPT_DEFLATE_ON_OOM:
		opts->deflate_on_oom = true;
		return true;
	case OPT_FREE_PAGE_REPORTING:
		opts->free_page_reporting = true;
		return true;
	case OPT_STATS_INTERVAL:
		return parse_number(name, arg, &opts->stats_interval_ms, error);
	case OPT_CONSOLE_LOG:
		opts->console_log = arg;
		return true;
	case OPT_CONSOLE_LOG_LIMIT:
		return parse_number(name, arg, &opts->console_log_limit, error);
	case OPT_CONTROL_FD:
		return parse_number(name, arg, &opts->control_fd, error);
	case OPT_USER:
		opts->user = arg;
		return true;
	case OPT_NO_SANDBOX:
		opts->no_sandbox = true;
		return true;
	default:
		return false;
	}
}

static bool
check_options(const Options *opts, VmmError **error)
{
	if (opts->kernel == NULL || *opts->kernel == '\0')
		return bad_value(error, "--kernel is required");
	if (opts->memory_mib <= 0)
		return bad_value(error, "--memory is required, in MiB, above 0");
	if (opts->balloon_mib < 0 || opts->balloon_mib > opts->memory_mib)
		return bad_value(error, "--balloon must be between 0 and --memory");
	if ((uint64_t)opts->memory_mib > (UINT64_MAX >> 20))
		return bad_value(error, "--memory is too large");
	if (opts->cpus < 0 || opts->cpus > INT_MAX)
		return bad_value(error, "--cpus must be positive");
	if (opts->stats_interval_ms < 0 || opts->stats_interval_ms > UINT_MAX)
		return bad_value(error, "--stats-interval must be between 0 and 4294967295");
	if (opts->console_log_limit < 0)
		return bad_value(error, "--console-log-limit must not be negative");
	if (opts->control_fd > INT_MAX || opts->control_fd < -1)
		return bad_value(error, "--control-fd is not a file descriptor");
	if (opts->kernel_fd > INT_MAX || opts->kernel_fd < -1 || opts->initrd_fd > INT_MAX ||
	    opts->initrd_fd < -1)
		return bad_value(error, "--kernel-fd and --initrd-fd take a file descriptor");
	if (opts->initrd_fd >= 0 && opts->initrd == NULL)
		return bad_value(error, "--initrd-fd needs --initrd to name the file");
	return true;
}

/* Returns EXIT_SUCCESS after --help, -1 to go on, or EXIT_USAGE with @error set. */
static int
parse_options(int argc, char **argv, Options *opts, VmmError **error)
{
	int option;
	int index = 0;

	opterr = 0;
	while ((option = getopt_long(argc, argv, "", long_options, &index)) != -1) {
		if (option == OPT_HELP) {
			fputs(usage_text, stdout);
			return EXIT_SUCCESS;
		}
		if (option == '?' || option == ':') {
			vmm_set_error(error,
				      EINVAL,
				      "%s: unknown option or missing value (see --help)",
				      argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (!set_option(opts, option, long_options[index].name, optarg, error))
			return EXIT_USAGE;
	}
	if (optind < argc) {
		vmm_set_error(error, EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
		return EXIT_USAGE;
	}
	return check_options(opts, error) ? -1 : EXIT_USAGE;
}

static void
vm_stopped_cb(VmmVm *vm, const VmmStopInfo *info, void *user_data)
{
	Worker *worker = user_data;

	vmm_message("VM stopped: %s", info->reason != NULL ? info->reason : "unknown reason");
	if (info->guest_exited)
		worker->exit_status = info->exit_status == 0 ? EXIT_SUCCESS : EXIT_VM_FAILED;
	else if (info->requested)
		worker->exit_status = EXIT_SUCCESS;
	else
		worker->exit_status = EXIT_VM_FAILED;
	if (worker->control != NULL)
		vmm_control_vm_stopped(worker->control, info);
	else
		vmm_loop_quit(worker->loop);
}

static bool
quit_signal_cb(int fd, uint32_t events, void *user_data)
{
	struct signalfd_siginfo info;

	while (read(fd, &info, sizeof(info)) == sizeof(info))
		vmm_vm_power_off(user_data, "stopped by a signal");
	return true;
}

/* SIGTERM and SIGINT arrive as readable data on the main loop, in no other thread. */
static int
block_quit_signals(VmmError **error)
{
	sigset_t signals;
	int fd;

	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		vmm_error_from_errno(error, "signalfd");
	return fd;
}

static VmmConfig
config_from_options(const Options *opts)
{
	VmmConfig config = {
		.memory_size = (uint64_t)opts->memory_mib * VMM_MIB,
		.n_vcpus = opts->cpus > 0 ? (unsigned)opts->cpus : 1,
		.kernel = {opts->kernel, (int)opts->kernel_fd},
		.initrd = {opts->initrd, (int)opts->initrd_fd},
		.cmdline = opts->cmdline,
		.devices.console_log = opts->console_log,
		.devices.console_log_limit = opts->console_log_limit > 0
						     ? (uint64_t)opts->console_log_limit
						     : DEFAULT_CONSOLE_LOG_LIMIT,
		.devices.balloon = {opts->deflate_on_oom, opts->free_page_reporting, true},
		.devices.balloon_target = (uint64_t)opts->balloon_mib * VMM_MIB,
	};
	return config;
}

static bool
setup_control(Worker *worker, VmmVm *vm, const Options *opts, VmmError **error)
{
	VmmBalloonListener listener;

	if (opts->control_fd < 0)
		return true;
	worker->control = vmm_control_new(vm, worker->loop, (int)opts->control_fd, error);
	if (worker->control == NULL)
		return false;
	listener = vmm_control_balloon_listener(worker->control);
	vmm_balloon_set_listener(vmm_vm_get_balloon(vm), &listener);
	return true;
}

static bool
start_worker(Worker *worker, VmmVm **vm, const Options *opts, VmmError **error)
{
	VmmConfig config = config_from_options(opts);

	worker->signal_fd = block_quit_signals(error);
	if (worker->signal_fd < 0 || (worker->loop = vmm_loop_new(error)) == NULL ||
	    (*vm = vmm_vm_new(&config, error)) == NULL)
		return false;
	vmm_loop_add_fd(worker->loop, worker->signal_fd, EPOLLIN, quit_signal_cb, *vm);
	if (!setup_control(worker, *vm, opts, error) ||
	    (!opts->no_sandbox && !vmm_sandbox_enter(opts->user, error)) ||
	    !vmm_vm_start(*vm, worker->loop, vm_stopped_cb, worker, error))
		return false;
	if (worker->control != NULL)
		vmm_control_ready(worker->control);
	return true;
}

/* The controller's socket: a SOCK_SEQPACKET one, whose HELLO comes before anything is set up. */
static bool
take_control_fd(int fd, VmmError **error)
{
	int type = 0;
	socklen_t length = sizeof(type);
	int flags = fcntl(fd, F_GETFL);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_SEQPACKET)
		return vmm_set_error(
			error, ENOTSOCK, "--control-fd %d is not a SOCK_SEQPACKET socket", fd);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return vmm_error_from_errno(error, "Setting up --control-fd");
	if (!vmm_control_handshake(fd, HANDSHAKE_TIMEOUT_MS, error)) {
		vmm_prefix_error(error, "--control-fd");
		return false;
	}
	return true;
}

static int
run_worker(const Options *opts)
{
	Worker worker = {.signal_fd = -1, .exit_status = EXIT_VM_FAILED};
	vmm_autoptr(VmmError) error = NULL;
	VmmVm *vm = NULL;

	if (opts->control_fd >= 0 && !take_control_fd((int)opts->control_fd, &error)) {
		fprintf(stderr, "vboxmem-vm: %s\n", error->message);
		return EXIT_USAGE;
	}
	if (start_worker(&worker, &vm, opts, &error)) {
		if (worker.control != NULL && opts->stats_interval_ms > 0)
			vmm_control_set_stats_interval(worker.control,
						       (unsigned)opts->stats_interval_ms);
		vmm_loop_run(worker.loop);
	} else {
		fprintf(stderr, "vboxmem-vm: %s\n", error->message);
	}
	/*
	 * The loop goes before the VM: vmm_loop_free() drops a stop report still
	 * queued on it, which must not run on a freed VM.
	 */
	vmm_clear_pointer(&worker.control, vmm_control_free);
	vmm_clear_pointer(&worker.loop, vmm_loop_free);
	vmm_clear_pointer(&vm, vmm_vm_free);
	vmm_clear_fd(&worker.signal_fd);
	return worker.exit_status;
}

int
main(int argc, char **argv)
{
	Options opts = {.control_fd = -1, .kernel_fd = -1, .initrd_fd = -1};
	vmm_autoptr(VmmError) error = NULL;
	int status = parse_options(argc, argv, &opts, &error);

	if (status == EXIT_USAGE)
		fprintf(stderr, "vboxmem-vm: %s\n", error->message);
	if (status >= 0)
		return status;
	return run_worker(&opts);
}
