/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vmm-console.h"
#include "vmm-log.h"

#define VIRTIO_ID_CONSOLE 3
/* cols u16, rows u16, max_nr_ports u32, emerg_wr u32 (virtio 1.2, 5.3.4). */
#define CONFIG_SIZE 12
#define CONFIG_MAX_NR_PORTS 4
#define NUM_QUEUES (2 * (VMM_CONSOLE_N_PORTS + 1))
/* struct virtio_console_control: le32 id, le16 event, le16 value (virtio 1.2, 5.3.6.2). */
#define CONTROL_SIZE 8
/* Linux's control buffers are a page; a longer one is garbage. */
#define CONTROL_MAX_BYTES 4096
#define CONTROL_PENDING 16
#define SCRATCH_SIZE 4096

enum {
	DEVICE_READY = 0,
	PORT_ADD = 1,
	PORT_REMOVE = 2,
	PORT_READY = 3,
	CONSOLE_PORT = 4,
	RESIZE = 5,
	PORT_OPEN = 6,
	PORT_NAME = 7,
};

typedef struct {
	uint32_t id;
	uint16_t event;
	uint16_t value;
} ControlMessage;

typedef struct {
	bool added;
	bool ready;
	bool guest_open;
} Port;

/*
 * The guest is never trusted: every chain is checked for direction and
 * length before use, control messages for a known port and event, and the
 * bytes it sends reach the listener through a copy the guest cannot change.
 *
 * Every field below is protected by the transport's lock once attached.
 */
struct _VmmConsole {
	VmmMemory *memory;
	char *port_name;
	VmmConsoleListener listener;
	VmmVirtio *transport;
	bool multiport;
	bool device_ready;
	Port ports[VMM_CONSOLE_N_PORTS];
	ControlMessage control[CONTROL_PENDING];
	unsigned control_head;
	unsigned n_control;
	uint8_t host_queue[VMM_CONSOLE_HOST_QUEUE_BYTES];
	size_t host_length;
	bool warned_overflow;
	bool warned_control;
	VmmConsoleCounters counters;
	uint8_t scratch[SCRATCH_SIZE];
};

static void
lock(VmmConsole *self)
{
	if (self->transport != NULL)
		vmm_virtio_lock(self->transport);
}

static void
unlock(VmmConsole *self)
{
	if (self->transport != NULL)
		vmm_virtio_unlock(self->transport);
}

/* Chains. */

static bool
chain_direction(const VmmVirtqChain *chain, bool writable, VmmError **error)
{
	for (unsigned i = 0; i < chain->n_descs; i++)
		if (chain->descs[i].device_writable != writable)
			return vmm_set_error(
				error,
				EBADMSG,
				writable ? "device-readable buffer in a receive queue"
					 : "device-writable buffer in a transmit queue");
	return true;
}

static uint64_t
chain_bytes(const VmmVirtqChain *chain)
{
	uint64_t bytes = 0;

	for (unsigned i = 0; i < chain->n_descs; i++)
		bytes += chain->descs[i].length;
	return bytes;
}

/* Copies @data into the chain's device-writable buffers; returns the count. */
static size_t
chain_write(VmmMemory *memory, const VmmVirtqChain *chain, const uint8_t *data, size_t length)
{
	size_t done = 0;

	for (unsigned i = 0; i < chain->n_descs && done < length; i++) {
		const VmmVirtqDesc *desc = &chain->descs[i];
		size_t n = VMM_MIN((size_t)desc->length, length - done);
		uint8_t *host = vmm_memory_get(memory, desc->address, n);

		if (host == NULL)
			break;
		memcpy(host, data + done, n);
		done += n;
	}
	return done;
}

/*
 * The chains the driver made available on @queue_index, all device-writable
 * (receive queues) or all device-readable (transmit queues), each handed to
 * @handle and returned with the bytes it wrote, while @has_more (NULL:
 * always). False once the device needs a reset.
 */
typedef bool (*ChainHandler)(VmmConsole *self,
			     const VmmVirtqChain *chain,
			     uint32_t *written,
			     VmmError **error);
typedef bool (*HasMore)(VmmConsole *self);

static bool
process(VmmConsole *self,
	unsigned queue_index,
	bool device_writes,
	HasMore has_more,
	ChainHandler handle)
{
	VmmVirtqueue *queue;
	VmmVirtqChain chain;
	unsigned handled = 0;
	bool used = false;
	bool ok = true;

	while (ok && (has_more == NULL || has_more(self)) &&
	       (queue = vmm_virtio_get_queue(self->transport, queue_index)) != NULL &&
	       vmm_virtqueue_within_budget(queue, &handled)) {
		vmm_autoptr(VmmError) error = NULL;
		uint32_t written = 0;
		VmmVirtqPop popped = vmm_virtqueue_pop(queue, &chain, &error);

		if (popped == VMM_VIRTQ_EMPTY)
			break;
		ok = popped == VMM_VIRTQ_CHAIN && chain_direction(&chain, device_writes, &error) &&
		     handle(self, &chain, &written, &error) &&
		     vmm_virtqueue_push(queue, chain.head, written, &error);
		if (ok)
			used = true;
		else
			vmm_virtio_queue_failed(self->transport, queue_index, error);
	}
	if (used)
		vmm_virtio_notify_used(self->transport, queue_index);
	return ok;
}

/* Control messages to the guest. */

static bool
control_pending(VmmConsole *self)
{
	return self->n_control > 0;
}

static void
queue_control(VmmConsole *self, uint32_t id, uint16_t event, uint16_t value)
{
	if (self->n_control == CONTROL_PENDING) {
		vmm_warning("console: control message %u for port %u dropped: the guest reads none",
			    event,
			    id);
		return;
	}
	self->control[(self->control_head + self->n_control++) % CONTROL_PENDING] =
		(ControlMessage){id, event, value};
}

static bool
produce_control(VmmConsole *self, const VmmVirtqChain *chain, uint32_t *written, VmmError **error)
{
	const ControlMessage *message = &self->control[self->control_head];
	uint8_t buffer[CONTROL_SIZE + VMM_CONSOLE_NAME_MAX + 1] = {0};
	size_t length = CONTROL_SIZE;

	vmm_put_le32(buffer, 0, message->id);
	vmm_put_le16(buffer, 4, message->event);
	vmm_put_le16(buffer, 6, message->value);
	if (message->event == PORT_NAME) {
		/* NUL-terminated, as QEMU sends it; Linux copies up to the buffer's end. */
		size_t name_length = strlen(self->port_name);
		memcpy(buffer + CONTROL_SIZE, self->port_name, name_length);
		length += name_length + 1;
	}
	if (chain_bytes(chain) < length)
		return vmm_set_error(error,
				     EBADMSG,
				     "control buffer of %" PRIu64 " bytes is too small",
				     chain_bytes(chain));
	*written = chain_write(self->memory, chain, buffer, length);
	self->control_head = (self->control_head + 1) % CONTROL_PENDING;
	self->n_control--;
	return true;
}

static void
send_control(VmmConsole *self)
{
	if (self->multiport)
		process(self, VMM_CONSOLE_CONTROL_RX_QUEUE, true, control_pending, produce_control);
}

/* Host to guest on the agent port. */

static bool
host_data_pending(VmmConsole *self)
{
	return self->host_length > 0 && self->ports[VMM_CONSOLE_AGENT_PORT].guest_open;
}

static bool
produce_data(VmmConsole *self, const VmmVirtqChain *chain, uint32_t *written, VmmError **error)
{
	size_t n = chain_write(self->memory, chain, self->host_queue, self->host_length);

	memmove(self->host_queue, self->host_queue + n, self->host_length - n);
	self->host_length -= n;
	self->counters.sent_bytes += n;
	*written = n;
	if (self->host_length == 0)
		self->warned_overflow = false;
	return true;
}

static void
send_data(VmmConsole *self)
{
	if (self->multiport)
		process(self, VMM_CONSOLE_AGENT_RX_QUEUE, true, host_data_pending, produce_data);
}

/* Guest to host. */

static bool
check_length(const VmmVirtqChain *chain, uint64_t min, uint64_t max, VmmError **error)
{
	uint64_t bytes = chain_bytes(chain);

	if (bytes < min || bytes > max)
		return vmm_set_error(error, EBADMSG, "buffer of %" PRIu64 " bytes", bytes);
	return true;
}

static bool
receive_console(VmmConsole *self, const VmmVirtqChain *chain, uint32_t *written, VmmError **error)
{
	if (!check_length(chain, 0, VMM_CONSOLE_MAX_BUFFER_BYTES, error))
		return false;
	self->counters.console_bytes += chain_bytes(chain);
	return true;
}

/* Hands the bytes on in copies: the guest may change its buffers at any time. */
static bool
receive_agent(VmmConsole *self, const VmmVirtqChain *chain, uint32_t *written, VmmError **error)
{
	if (!check_length(chain, 0, VMM_CONSOLE_MAX_BUFFER_BYTES, error))
		return false;
	for (unsigned i = 0; i < chain->n_descs; i++) {
		const VmmVirtqDesc *desc = &chain->descs[i];
		for (uint32_t at = 0; at < desc->length;) {
			uint32_t n = VMM_MIN(desc->length - at, (uint32_t)SCRATCH_SIZE);
			const uint8_t *host = vmm_memory_get(self->memory, desc->address + at, n);
			if (host == NULL)
				return vmm_set_error(error, EBADMSG, "buffer outside guest RAM");
			memcpy(self->scratch, host, n);
			self->counters.received_bytes += n;
			if (self->listener.data != NULL)
				self->listener.data(self->listener.user_data, self->scratch, n);
			at += n;
		}
	}
	return true;
}

/* Control messages from the guest (Linux's drivers/char/virtio_console.c). */

static void
ignore_control(VmmConsole *self, uint32_t id, uint16_t event, uint16_t value)
{
	self->counters.ignored_control++;
	if (!self->warned_control)
		vmm_message("console: ignored control message event %u value %u for port %u "
			    "(logged once)",
			    event,
			    value,
			    id);
	self->warned_control = true;
}

static void
device_ready(VmmConsole *self, uint16_t value)
{
	if (value == 0) {
		vmm_warning("console: the guest driver failed to set up the device");
		return;
	}
	if (self->device_ready)
		return;
	self->device_ready = true;
	for (uint32_t id = 0; id < VMM_CONSOLE_N_PORTS; id++) {
		self->ports[id].added = true;
		queue_control(self, id, PORT_ADD, 1);
	}
}

/* The guest set the port up: tell it what the port is and that the host is there. */
static void
port_ready(VmmConsole *self, uint32_t id, uint16_t value)
{
	if (value == 0) {
		vmm_warning("console: the guest failed to set up port %u", id);
		return;
	}
	self->ports[id].ready = true;
	if (id == 0) {
		queue_control(self, id, CONSOLE_PORT, 1);
		return;
	}
	queue_control(self, id, PORT_NAME, 1);
	queue_control(self, id, PORT_OPEN, 1);
}

static void
port_open(VmmConsole *self, uint32_t id, uint16_t value)
{
	bool open = value != 0;

	if (self->ports[id].guest_open == open)
		return;
	self->ports[id].guest_open = open;
	if (id == VMM_CONSOLE_AGENT_PORT && self->listener.port_open != NULL)
		self->listener.port_open(self->listener.user_data, open);
}

static void
handle_control(VmmConsole *self, uint32_t id, uint16_t event, uint16_t value)
{
	bool known_port = id < VMM_CONSOLE_N_PORTS && self->ports[id].added;

	if (event == DEVICE_READY)
		device_ready(self, value);
	else if (event == PORT_READY && known_port && !self->ports[id].ready)
		port_ready(self, id, value);
	else if (event == PORT_OPEN && known_port && self->ports[id].ready)
		port_open(self, id, value);
	else
		ignore_control(self, id, event, value);
}

static bool
receive_control(VmmConsole *self, const VmmVirtqChain *chain, uint32_t *written, VmmError **error)
{
	uint8_t message[CONTROL_SIZE];
	uint32_t id;
	uint16_t event, value;

	if (!check_length(chain, CONTROL_SIZE, CONTROL_MAX_BYTES, error))
		return false;
	vmm_virtq_chain_read(self->memory, chain, message, sizeof(message));
	memcpy(&id, message, 4);
	memcpy(&event, message + 4, 2);
	memcpy(&value, message + 6, 2);
	handle_control(self, le32toh(id), le16toh(event), le16toh(value));
	return true;
}

/* VmmVirtioDeviceOps. */

static void
queue_notify(void *device, unsigned queue_index)
{
	VmmConsole *self = device;

	if (queue_index == 1)
		process(self, queue_index, false, NULL, receive_console);
	else if (!self->multiport)
		return;
	else if (queue_index == VMM_CONSOLE_CONTROL_TX_QUEUE)
		process(self, queue_index, false, NULL, receive_control);
	else if (queue_index == VMM_CONSOLE_AGENT_TX_QUEUE)
		process(self, queue_index, false, NULL, receive_agent);
	/* New receive buffers, or room made by handling a control message. */
	send_control(self);
	send_data(self);
}

static void
attach(void *device, VmmVirtio *transport)
{
	VmmConsole *self = device;

	self->transport = transport;
}

static uint64_t
get_features(void *device)
{
	return 1u << VMM_CONSOLE_F_MULTIPORT;
}

static void
config_read(void *device, uint32_t offset, uint8_t *data, uint32_t size)
{
	uint8_t config[CONFIG_SIZE] = {0};

	vmm_put_le32(config, CONFIG_MAX_NR_PORTS, VMM_CONSOLE_N_PORTS);
	memcpy(data, config + offset, size);
}

/* Only emerg_wr is the driver's to write, and VIRTIO_CONSOLE_F_EMERG_WRITE is never offered. */
static void
config_write(void *device, uint32_t offset, const uint8_t *data, uint32_t size)
{
}

static void
activate(void *device, VmmVirtio *transport, uint64_t features)
{
	VmmConsole *self = device;

	self->multiport = (features >> VMM_CONSOLE_F_MULTIPORT) & 1;
	/* Without the control queues port 0 exists from the start (virtio 1.2, 5.3.6). */
	self->ports[0].added = self->ports[0].ready = !self->multiport;
	for (unsigned i = 0; i < NUM_QUEUES; i++)
		queue_notify(self, i);
}

static void
reset(void *device)
{
	VmmConsole *self = device;
	bool was_open = self->ports[VMM_CONSOLE_AGENT_PORT].guest_open;

	self->multiport = self->device_ready = false;
	memset(self->ports, 0, sizeof(self->ports));
	self->control_head = self->n_control = 0;
	/* A reset guest starts its agent afresh: what it did not read is lost. */
	self->counters.dropped_bytes += self->host_length;
	self->host_length = 0;
	self->warned_overflow = false;
	if (was_open && self->listener.port_open != NULL)
		self->listener.port_open(self->listener.user_data, false);
}

static const VmmVirtioDeviceOps console_ops = {
	.device_id = VIRTIO_ID_CONSOLE,
	.config_size = CONFIG_SIZE,
	.num_queues = NUM_QUEUES,
	.queue_size = VMM_CONSOLE_QUEUE_SIZE,
	.attach = attach,
	.get_features = get_features,
	.config_read = config_read,
	.config_write = config_write,
	.activate = activate,
	.queue_notify = queue_notify,
	.reset = reset,
};

const VmmVirtioDeviceOps *
vmm_console_get_ops(void)
{
	return &console_ops;
}

/* Public API. */

static bool
valid_port_name(const char *name)
{
	size_t length = name != NULL ? strlen(name) : 0;

	if (length == 0 || length > VMM_CONSOLE_NAME_MAX)
		return false;
	/* It becomes a path under /dev/virtio-ports/. */
	for (size_t i = 0; i < length; i++)
		if (!(name[i] >= 'a' && name[i] <= 'z') && !(name[i] >= 'A' && name[i] <= 'Z') &&
		    !(name[i] >= '0' && name[i] <= '9') && strchr("._-", name[i]) == NULL)
			return false;
	return name[0] != '.';
}

VmmConsole *
vmm_console_new(VmmMemory *memory, const char *port_name, const VmmConsoleListener *listener)
{
	VmmConsole *self;

	if (!valid_port_name(port_name))
		return NULL;
	self = vmm_new0(VmmConsole, 1);
	self->memory = memory;
	self->port_name = vmm_strdup(port_name);
	if (listener != NULL)
		self->listener = *listener;
	return self;
}

void
vmm_console_free(VmmConsole *self)
{
	if (self == NULL)
		return;
	free(self->port_name);
	free(self);
}

void
vmm_console_set_listener(VmmConsole *self, const VmmConsoleListener *listener)
{
	lock(self);
	self->listener = listener != NULL ? *listener : (VmmConsoleListener){0};
	unlock(self);
}

static bool
enqueue(VmmConsole *self, const uint8_t *bytes, size_t length)
{
	if (length <= sizeof(self->host_queue) - self->host_length) {
		memcpy(self->host_queue + self->host_length, bytes, length);
		self->host_length += length;
		return true;
	}
	self->counters.dropped_bytes += length;
	self->counters.dropped_sends++;
	if (!self->warned_overflow)
		vmm_warning("console: the guest does not read port %u; dropped %zu bytes (logged "
			    "once until it reads again)",
			    VMM_CONSOLE_AGENT_PORT,
			    length);
	self->warned_overflow = true;
	return false;
}

bool
vmm_console_send(VmmConsole *self, const uint8_t *bytes, size_t length)
{
	bool queued;

	lock(self);
	queued = enqueue(self, bytes, length);
	if (self->transport != NULL)
		send_data(self);
	unlock(self);
	return queued;
}

bool
vmm_console_agent_open(VmmConsole *self)
{
	bool open;

	lock(self);
	open = self->ports[VMM_CONSOLE_AGENT_PORT].guest_open;
	unlock(self);
	return open;
}

void
vmm_console_get_counters(VmmConsole *self, VmmConsoleCounters *counters)
{
	lock(self);
	*counters = self->counters;
	counters->queued_bytes = self->host_length;
	unlock(self);
}
