/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "vmm-log.h"
#include "vmm-serial.h"

/* Register offsets and bits of a 16550A, as much as Linux's 8250 driver and the test guest use. */
enum { THR_RBR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define LCR_DLAB 0x80
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_FIFO_ENABLED 0xc0
#define FCR_FIFO_ENABLE 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_DCD 0x80
#define MCR_LOOP 0x10

/*
 * An 8250 that only transmits: output goes to the console log, which is
 * restarted when it reaches its limit so a chatty guest cannot fill the disk.
 */
struct _VmmSerial {
	pthread_mutex_t lock;
	VmmBus *pio;
	VmmIrq *irq;
	int log_fd;
	uint64_t log_limit;
	uint64_t log_written;
	bool log_failing; /* said once; said again only after a write worked */
	uint8_t ier;
	uint8_t lcr;
	uint8_t mcr;
	uint8_t scr;
	uint8_t fcr;
	uint8_t dll;
	uint8_t dlm;
	bool thri_pending;
};

static void
log_byte(VmmSerial *self, uint8_t byte)
{
	if (self->log_fd < 0)
		return;
	if (self->log_limit > 0 && self->log_written >= self->log_limit) {
		static const char notice[] = "[console log restarted: size limit reached]\n";
		if (ftruncate(self->log_fd, 0) == 0 && lseek(self->log_fd, 0, SEEK_SET) == 0 &&
		    write(self->log_fd, notice, sizeof(notice) - 1) > 0)
			self->log_written = sizeof(notice) - 1;
	}
	if (write(self->log_fd, &byte, 1) == 1) {
		self->log_written++;
		self->log_failing = false;
	} else if (!self->log_failing) {
		/* A full disk must not leave the log silently empty. */
		self->log_failing = true;
		vmm_warning("console log: %s; the guest's output is lost until it can be written",
			    strerror(errno));
	}
}

/* THRE interrupts on ISA IRQ 4 are edge-triggered through the PIC: pulse the line. */
static void
update_interrupt(VmmSerial *self)
{
	self->thri_pending = (self->ier & IER_THRI) != 0;
	if (self->thri_pending && self->irq != NULL) {
		self->irq->set_line(self->irq->opaque, VMM_SERIAL_IRQ, true);
		self->irq->set_line(self->irq->opaque, VMM_SERIAL_IRQ, false);
	}
}

static uint8_t
read_register(VmmSerial *self, unsigned offset)
{
	bool dlab = (self->lcr & LCR_DLAB) != 0;
	uint8_t iir;

	switch (offset) {
	case THR_RBR:
		return dlab ? self->dll : 0;
	case IER:
		return dlab ? self->dlm : self->ier;
	case IIR_FCR:
		iir = self->thri_pending ? IIR_THRI : IIR_NO_INT;
		self->thri_pending = false;
		return iir | ((self->fcr & FCR_FIFO_ENABLE) ? IIR_FIFO_ENABLED : 0);
	case LCR:
		return self->lcr;
	case MCR:
		return self->mcr;
	case LSR:
		return LSR_THRE | LSR_TEMT;
	case MSR:
		return (self->mcr & MCR_LOOP) ? 0 : MSR_DCD | MSR_DSR | MSR_CTS;
	default:
		return self->scr;
	}
}

static void
write_register(VmmSerial *self, unsigned offset, uint8_t value)
{
	bool dlab = (self->lcr & LCR_DLAB) != 0;

	switch (offset) {
	case THR_RBR:
		if (dlab) {
			self->dll = value;
			return;
		}
		log_byte(self, value);
		update_interrupt(self);
		return;
	case IER:
		if (dlab)
			self->dlm = value;
		else {
			self->ier = value & 0x0f;
			update_interrupt(self);
		}
		return;
	case IIR_FCR:
		self->fcr = value;
		return;
	case LCR:
		self->lcr = value;
		return;
	case MCR:
		self->mcr = value;
		return;
	case SCR:
		self->scr = value;
		return;
	default:
		return;
	}
}

static void
serial_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	VmmSerial *self = opaque;

	pthread_mutex_lock(&self->lock);
	for (uint32_t i = 0; i < size; i++)
		data[i] = read_register(self, (unsigned)(offset + i) % 8);
	pthread_mutex_unlock(&self->lock);
}

static void
serial_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	VmmSerial *self = opaque;

	pthread_mutex_lock(&self->lock);
	for (uint32_t i = 0; i < size; i++)
		write_register(self, (unsigned)(offset + i) % 8, data[i]);
	pthread_mutex_unlock(&self->lock);
}

static const VmmIoOps serial_ops = {serial_read, serial_write};

static int
open_log(const char *path, VmmError **error)
{
	int fd;

	if (path == NULL)
		return -1;
	if (vmm_strcmp0(path, "-") == 0)
		fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
	else
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		int saved_errno = errno;
		vmm_set_error(error,
			      saved_errno,
			      "Cannot open the console log %s: %s",
			      path,
			      strerror(saved_errno));
	}
	return fd;
}

VmmSerial *
vmm_serial_new(VmmBus *pio, VmmIrq *irq, const char *log_path, uint64_t log_limit, VmmError **error)
{
	vmm_autoptr(VmmSerial) self = vmm_new0(VmmSerial, 1);

	pthread_mutex_init(&self->lock, NULL);
	self->irq = irq;
	self->log_limit = log_limit;
	self->log_fd = open_log(log_path, error);
	if (log_path != NULL && self->log_fd < 0)
		return NULL;
	if (!vmm_bus_add(pio, VMM_SERIAL_PORT, 8, &serial_ops, self, error))
		return NULL;
	self->pio = pio;
	return vmm_steal_pointer(&self);
}

void
vmm_serial_free(VmmSerial *self)
{
	if (self == NULL)
		return;
	if (self->pio != NULL)
		vmm_bus_remove(self->pio, VMM_SERIAL_PORT, self);
	vmm_clear_fd(&self->log_fd);
	pthread_mutex_destroy(&self->lock);
	free(self);
}
