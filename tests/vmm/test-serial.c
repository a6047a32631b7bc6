/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>

#include "vmm-serial.h"
#include "vmm-test-driver.h"
#include "vmm-test-error.h"

/* The 8250's console log, where the guest's output goes. */

static void
transmit(VmmBus *pio, const gchar *text)
{
	for (const gchar *p = text; *p != '\0'; p++)
		test_bus_write(pio, VMM_SERIAL_PORT, 1, (guint8)*p);
}

static void
test_log_written(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("vmm-serial-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "console.log", NULL);
	g_autofree gchar *content = NULL;
	vmm_autoptr(VmmError) error = NULL;
	TestIrq irq_recorder;
	VmmIrq irq;
	VmmBus *pio = vmm_bus_new("port I/O");
	VmmSerial *serial;

	test_irq_init(&irq_recorder, &irq);
	serial = vmm_serial_new(pio, &irq, path, 0, &error);
	vmm_assert_no_error(error);
	transmit(pio, "hello\n");
	g_assert_true(g_file_get_contents(path, &content, NULL, NULL));
	g_assert_cmpstr(content, ==, "hello\n");
	vmm_serial_free(serial);
	vmm_bus_free(pio);
	g_unlink(path);
	g_rmdir(dir);
}

/* A full disk is said once, not once per byte, and not kept quiet either. */
static void
test_log_full_disk(void)
{
	vmm_autoptr(VmmError) error = NULL;
	TestIrq irq_recorder;
	VmmIrq irq;
	VmmBus *pio = vmm_bus_new("port I/O");
	VmmSerial *serial;

	test_log_init();
	test_irq_init(&irq_recorder, &irq);
	serial = vmm_serial_new(pio, &irq, "/dev/full", 0, &error);
	vmm_assert_no_error(error);
	test_log_expect(VMM_LOG_WARNING, "console log: No space left on device;*");
	transmit(pio, "lost output\n");
	test_log_assert_expected();
	vmm_serial_free(serial);
	vmm_bus_free(pio);
	vmm_log_set_handler(NULL, NULL);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/serial/log-written", test_log_written);
	g_test_add_func("/serial/log-full-disk", test_log_full_disk);
	return g_test_run();
}
