#include "virtio-pci.h"

#include "clock.h"
#include "io.h"
#include "lib.h"

/* Legacy header in BAR0 (no MSI-X enabled, so the device config follows at 20). */
#define L_DEVICE_FEATURES 0
#define L_DRIVER_FEATURES 4
#define L_QUEUE_PFN 8
#define L_QUEUE_SIZE 12
#define L_QUEUE_SELECT 14
#define L_QUEUE_NOTIFY 16
#define L_STATUS 18
#define L_ISR 19
#define L_CONFIG 20

/* Modern common configuration structure. */
#define C_DEVICE_FEATURE_SELECT 0x00
#define C_DEVICE_FEATURE 0x04
#define C_DRIVER_FEATURE_SELECT 0x08
#define C_DRIVER_FEATURE 0x0c
#define C_MSIX_CONFIG 0x10
#define C_NUM_QUEUES 0x12
#define C_STATUS 0x14
#define C_CONFIG_GENERATION 0x15
#define C_QUEUE_SELECT 0x16
#define C_QUEUE_SIZE 0x18
#define C_QUEUE_MSIX_VECTOR 0x1a
#define C_QUEUE_ENABLE 0x1c
#define C_QUEUE_NOTIFY_OFF 0x1e
#define C_QUEUE_DESC 0x20
#define C_QUEUE_DRIVER 0x28
#define C_QUEUE_DEVICE 0x30

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define CAP_OFF_TYPE 3
#define CAP_OFF_BAR 4
#define CAP_OFF_OFFSET 8
#define CAP_OFF_NOTIFY_MULT 16
#define MAX_CAPS 48
#define NO_VECTOR 0xffff
#define RESET_TIMEOUT_MS 1000
#define CONFIG_READ_TRIES 100

/* Maps one capability window; false if its BAR is not a usable memory BAR. */
static bool
map_cap(const struct pci_dev *d, uint8_t cap, uintptr_t *out)
{
	struct pci_bar bar;
	uint8_t index = pci_read8(d, cap + CAP_OFF_BAR);

	if (index > 5 || !pci_bar(d, index, &bar) || bar.io)
		return false;
	*out = (uintptr_t)(bar.addr + pci_read32(d, cap + CAP_OFF_OFFSET));
	return true;
}

static bool
probe_modern(struct virtio_pci *v, const struct pci_dev *d)
{
	bool have[5] = {false};
	uintptr_t *slot[5] = {0, &v->common, &v->notify, &v->isr, &v->device};
	uint8_t cap = pci_cap_first(d);

	for (int n = 0; cap && n < MAX_CAPS; n++, cap = pci_cap_next(d, cap)) {
		if (pci_read8(d, cap) != PCI_CAP_ID_VNDR)
			continue;
		uint8_t type = pci_read8(d, cap + CAP_OFF_TYPE);
		if (type < CAP_COMMON || type > CAP_DEVICE || have[type])
			continue;
		if (!map_cap(d, cap, slot[type]))
			continue;
		if (type == CAP_NOTIFY)
			v->notify_mult = pci_read32(d, cap + CAP_OFF_NOTIFY_MULT);
		have[type] = true;
	}
	return have[CAP_COMMON] && have[CAP_NOTIFY] && have[CAP_ISR] && have[CAP_DEVICE];
}

static bool
probe_legacy(struct virtio_pci *v, const struct pci_dev *d)
{
	struct pci_bar bar;

	if (!pci_bar(d, 0, &bar) || !bar.io)
		return false;
	v->io = (uint16_t)bar.addr;
	return true;
}

#define PCI_CAP_ID_MSIX 0x11
#define MSIX_CONTROL 2
#define MSIX_TABLE 4
#define MSIX_ENABLE 0x8000
#define MSI_ADDRESS 0xfee00000u /* the local APIC of CPU 0 */
#define MSI_VECTOR 0x40

static uint8_t
find_cap(const struct pci_dev *d, uint8_t id)
{
	uint8_t cap = pci_cap_first(d);

	for (int n = 0; cap && n < MAX_CAPS; n++, cap = pci_cap_next(d, cap)) {
		if (pci_read8(d, cap) == id)
			return cap;
	}
	return 0;
}

bool
vpci_enable_msix(struct virtio_pci *v)
{
	uint8_t cap = find_cap(&v->pci, PCI_CAP_ID_MSIX);
	struct pci_bar bar;

	if (!v->modern || cap == 0)
		return false;
	uint32_t table = pci_read32(&v->pci, cap + MSIX_TABLE);
	if (!pci_bar(&v->pci, table & 7, &bar) || bar.io)
		return false;
	uintptr_t entry = (uintptr_t)(bar.addr + (table & ~7u));
	mmio_write32(entry, MSI_ADDRESS);
	mmio_write32(entry + 4, 0);
	mmio_write32(entry + 8, MSI_VECTOR);
	mmio_write32(entry + 12, 0); /* unmasked */
	pci_write16(&v->pci,
		    cap + MSIX_CONTROL,
		    (uint16_t)(pci_read16(&v->pci, cap + MSIX_CONTROL) | MSIX_ENABLE));
	v->queue_vector = 0;
	return true;
}

bool
vpci_probe(struct virtio_pci *v, const struct pci_dev *d)
{
	*v = (struct virtio_pci){.pci = *d, .queue_vector = NO_VECTOR};
	v->modern = probe_modern(v, d);
	if (!v->modern && !probe_legacy(v, d))
		return false;
	pci_enable(d);
	return true;
}

const char *
vpci_kind(const struct virtio_pci *v)
{
	return v->modern ? "modern" : "legacy";
}

uint64_t
vpci_base(const struct virtio_pci *v)
{
	return v->modern ? v->common : v->io;
}

uint8_t
vpci_status(struct virtio_pci *v)
{
	return v->modern ? mmio_read8(v->common + C_STATUS) : inb(v->io + L_STATUS);
}

static void
set_status(struct virtio_pci *v, uint8_t status)
{
	if (v->modern)
		mmio_write8(v->common + C_STATUS, status);
	else
		outb(v->io + L_STATUS, status);
}

void
vpci_reset(struct virtio_pci *v)
{
	set_status(v, 0);
	/* A modern device may take time to reset; it reads 0 once done. */
	uint64_t deadline = clock_after_ms(RESET_TIMEOUT_MS);
	while (v->modern && vpci_status(v) != 0 && clock_now() < deadline)
		guest_wait(clock_after_us(100));
}

void
vpci_add_status(struct virtio_pci *v, uint8_t bits)
{
	set_status(v, vpci_status(v) | bits);
}

uint64_t
vpci_device_features(struct virtio_pci *v)
{
	if (!v->modern)
		return inl(v->io + L_DEVICE_FEATURES);
	mmio_write32(v->common + C_DEVICE_FEATURE_SELECT, 0);
	uint64_t lo = mmio_read32(v->common + C_DEVICE_FEATURE);
	mmio_write32(v->common + C_DEVICE_FEATURE_SELECT, 1);
	uint64_t hi = mmio_read32(v->common + C_DEVICE_FEATURE);
	return hi << 32 | lo;
}

bool
vpci_set_features(struct virtio_pci *v, uint64_t features)
{
	if (!v->modern) {
		outl(v->io + L_DRIVER_FEATURES, (uint32_t)features);
		return true;
	}
	mmio_write32(v->common + C_DRIVER_FEATURE_SELECT, 0);
	mmio_write32(v->common + C_DRIVER_FEATURE, (uint32_t)features);
	mmio_write32(v->common + C_DRIVER_FEATURE_SELECT, 1);
	mmio_write32(v->common + C_DRIVER_FEATURE, (uint32_t)(features >> 32));
	vpci_add_status(v, VIRTIO_STATUS_FEATURES_OK);
	return vpci_status(v) & VIRTIO_STATUS_FEATURES_OK;
}

uint16_t
vpci_queue_max(struct virtio_pci *v, uint16_t index)
{
	if (!v->modern) {
		outw(v->io + L_QUEUE_SELECT, index);
		return inw(v->io + L_QUEUE_SIZE);
	}
	if (index >= mmio_read16(v->common + C_NUM_QUEUES))
		return 0;
	mmio_write16(v->common + C_QUEUE_SELECT, index);
	return mmio_read16(v->common + C_QUEUE_SIZE);
}

static void
write64(uintptr_t addr, uint64_t val)
{
	mmio_write32(addr, (uint32_t)val);
	mmio_write32(addr + 4, (uint32_t)(val >> 32));
}

bool
vpci_queue_setup(struct virtio_pci *v, struct virtq *vq)
{
	if (!v->modern) {
		outw(v->io + L_QUEUE_SELECT, vq->index);
		outl(v->io + L_QUEUE_PFN, (uint32_t)((uintptr_t)vq->desc >> 12));
		return true;
	}
	mmio_write16(v->common + C_QUEUE_SELECT, vq->index);
	mmio_write16(v->common + C_QUEUE_SIZE, vq->size);
	mmio_write16(v->common + C_QUEUE_MSIX_VECTOR, v->queue_vector);
	write64(v->common + C_QUEUE_DESC, (uintptr_t)vq->desc);
	write64(v->common + C_QUEUE_DRIVER, (uintptr_t)vq->avail);
	write64(v->common + C_QUEUE_DEVICE, (uintptr_t)vq->used);
	vq->notify_off = mmio_read16(v->common + C_QUEUE_NOTIFY_OFF);
	mmio_write16(v->common + C_QUEUE_ENABLE, 1);
	return true;
}

void
vpci_notify(struct virtio_pci *v, const struct virtq *vq)
{
	if (v->modern)
		mmio_write16(v->notify + (uintptr_t)vq->notify_off * v->notify_mult, vq->index);
	else
		outw(v->io + L_QUEUE_NOTIFY, vq->index);
}

uint8_t
vpci_isr(struct virtio_pci *v)
{
	return v->modern ? mmio_read8(v->isr) : inb(v->io + L_ISR);
}

uint8_t
vpci_config_generation(struct virtio_pci *v)
{
	return v->modern ? mmio_read8(v->common + C_CONFIG_GENERATION) : 0;
}

uint32_t
vpci_config_read32(struct virtio_pci *v, unsigned int off)
{
	if (!v->modern)
		return inl(v->io + L_CONFIG + off);
	uint8_t gen;
	uint32_t val;
	int tries = 0;
	do {
		gen = vpci_config_generation(v);
		val = mmio_read32(v->device + off);
	} while (gen != vpci_config_generation(v) && ++tries < CONFIG_READ_TRIES);
	return val;
}

void
vpci_config_write32(struct virtio_pci *v, unsigned int off, uint32_t val)
{
	if (v->modern)
		mmio_write32(v->device + off, val);
	else
		outl(v->io + L_CONFIG + off, val);
}
