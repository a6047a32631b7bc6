/* The virtio PCI transport: modern (virtio 1.x capabilities) or legacy (I/O BAR0). */
#ifndef GUEST_VIRTIO_PCI_H
#define GUEST_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "pci.h"
#include "virtqueue.h"

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33

#define VIRTIO_ISR_QUEUE 1
#define VIRTIO_ISR_CONFIG 2

struct virtio_pci {
	struct pci_dev pci;
	bool modern;
	uint16_t io;      /* legacy: BAR0 */
	uintptr_t common; /* modern: the capabilities' windows */
	uintptr_t notify;
	uint32_t notify_mult;
	uintptr_t isr;
	uintptr_t device;
	uint16_t queue_vector; /* NO_VECTOR unless MSI-X is on */
};

/* Finds the transport of a virtio PCI function; false if it has neither kind. */
bool vpci_probe(struct virtio_pci *v, const struct pci_dev *d);
const char *vpci_kind(const struct virtio_pci *v);
/* Where the transport lives: the legacy I/O port or the modern common config address. */
uint64_t vpci_base(const struct virtio_pci *v);

/* Enables MSI-X with table entry 0 aimed at the boot CPU; false if the function has none. */
bool vpci_enable_msix(struct virtio_pci *v);

void vpci_reset(struct virtio_pci *v);
uint8_t vpci_status(struct virtio_pci *v);
void vpci_add_status(struct virtio_pci *v, uint8_t bits);
uint64_t vpci_device_features(struct virtio_pci *v);
/* Writes the driver features and, for modern, sets and checks FEATURES_OK. */
bool vpci_set_features(struct virtio_pci *v, uint64_t features);

/* The device's size for queue `index`, 0 if there is none. */
uint16_t vpci_queue_max(struct virtio_pci *v, uint16_t index);
/* Gives the device the rings of vq (vq_init() done) and enables the queue. */
bool vpci_queue_setup(struct virtio_pci *v, struct virtq *vq);
void vpci_notify(struct virtio_pci *v, const struct virtq *vq);

/* Reading the ISR acknowledges it (and lowers INTx). */
uint8_t vpci_isr(struct virtio_pci *v);
uint8_t vpci_config_generation(struct virtio_pci *v);
uint32_t vpci_config_read32(struct virtio_pci *v, unsigned int off);
void vpci_config_write32(struct virtio_pci *v, unsigned int off, uint32_t val);

#endif
