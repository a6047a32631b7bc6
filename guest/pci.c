#include "pci.h"

#include "io.h"
#include "lib.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc
#define MMIO_ASSIGN_BASE 0xe0000000ull
#define MMIO_ASSIGN_END 0xfec00000ull /* IOAPIC and LAPIC above */
#define IO_ASSIGN_BASE 0xc000ull
#define IO_ASSIGN_END 0x10000ull
#define FOUR_GIB (4ull << 30)

static void
select_reg(const struct pci_dev *d, uint8_t off)
{
	outl(PCI_ADDR,
	     0x80000000u | (uint32_t)d->bus << 16 | (uint32_t)d->dev << 11 | (uint32_t)d->fn << 8 |
		     (off & 0xfc));
}

uint8_t
pci_read8(const struct pci_dev *d, uint8_t off)
{
	select_reg(d, off);
	return inb(PCI_DATA + (off & 3));
}

uint16_t
pci_read16(const struct pci_dev *d, uint8_t off)
{
	select_reg(d, off);
	return inw(PCI_DATA + (off & 2));
}

uint32_t
pci_read32(const struct pci_dev *d, uint8_t off)
{
	select_reg(d, off);
	return inl(PCI_DATA);
}

void
pci_write16(const struct pci_dev *d, uint8_t off, uint16_t v)
{
	select_reg(d, off);
	outw(PCI_DATA + (off & 2), v);
}

void
pci_write32(const struct pci_dev *d, uint8_t off, uint32_t v)
{
	select_reg(d, off);
	outl(PCI_DATA, v);
}

static bool
pci_present(struct pci_dev *d)
{
	uint32_t id = pci_read32(d, PCI_VENDOR_ID);

	if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0)
		return false;
	d->vendor = id & 0xffff;
	d->device = id >> 16;
	return true;
}

/* Calls visit for every function on bus 0 until it returns true. */
static bool
pci_each(bool (*visit)(struct pci_dev *d, void *arg), void *arg)
{
	for (uint8_t dev = 0; dev < 32; dev++) {
		for (uint8_t fn = 0; fn < 8; fn++) {
			struct pci_dev d = {0, dev, fn, 0, 0};
			if (!pci_present(&d)) {
				if (fn == 0)
					break;
				continue;
			}
			if (visit(&d, arg))
				return true;
			if (fn == 0 && !(pci_read8(&d, PCI_HEADER_TYPE) & 0x80))
				break;
		}
	}
	return false;
}

struct find_arg {
	uint16_t vendor;
	const uint16_t *ids;
	unsigned int n_ids;
	struct pci_dev *out;
};

static bool
match_id(struct pci_dev *d, void *arg)
{
	struct find_arg *f = arg;

	if (d->vendor != f->vendor)
		return false;
	for (unsigned int i = 0; i < f->n_ids; i++) {
		if (d->device == f->ids[i]) {
			*f->out = *d;
			return true;
		}
	}
	return false;
}

bool
pci_find(uint16_t vendor, const uint16_t *ids, unsigned int n_ids, struct pci_dev *out)
{
	struct find_arg f = {vendor, ids, n_ids, out};

	return pci_each(match_id, &f);
}

/* Sizes a BAR the usual way, with decoding off meanwhile. Returns false if unimplemented. */
static bool
bar_probe(const struct pci_dev *d, unsigned int index, struct pci_bar *b)
{
	uint8_t off = PCI_BAR0 + index * 4;
	uint32_t lo = pci_read32(d, off), hi = 0, size_lo, size_hi = 0xffffffffu;

	b->io = lo & 1;
	b->is64 = !b->io && ((lo >> 1) & 3) == 2;
	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	pci_write16(d, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	pci_write32(d, off, 0xffffffffu);
	size_lo = pci_read32(d, off);
	pci_write32(d, off, lo);
	if (b->is64) {
		hi = pci_read32(d, off + 4);
		pci_write32(d, off + 4, 0xffffffffu);
		size_hi = pci_read32(d, off + 4);
		pci_write32(d, off + 4, hi);
	}
	pci_write16(d, PCI_COMMAND, cmd);
	uint64_t mask = b->io ? ~3ull : ~0xfull;
	uint64_t sizing = ((uint64_t)size_hi << 32 | size_lo) & mask;
	if (b->io)
		sizing |= 0xffffffffffff0000ull;
	if (!(sizing & 0xffffffffull))
		return false;
	b->size = ~sizing + 1;
	b->addr = ((uint64_t)hi << 32 | lo) & mask;
	return true;
}

static unsigned int
bar_count(const struct pci_dev *d)
{
	switch (pci_read8(d, PCI_HEADER_TYPE) & 0x7f) {
	case 0:
		return 6;
	case 1:
		return 2;
	default:
		return 0;
	}
}

#define MAX_USED 64

struct used_range {
	uint64_t start, end;
	bool io;
};

/* Address ranges other BARs decode, so an assigned BAR does not overlap them. */
static struct {
	struct used_range r[MAX_USED];
	unsigned int n;
} used;
static bool used_known;

static void
used_add(uint64_t start, uint64_t size, bool io)
{
	if (used.n < MAX_USED)
		used.r[used.n++] = (struct used_range){start, start + size, io};
}

static bool
collect_bars(struct pci_dev *d, void *arg)
{
	unsigned int n = bar_count(d);

	for (unsigned int i = 0; i < n; i++) {
		struct pci_bar b;
		if (!bar_probe(d, i, &b))
			continue;
		if (b.addr)
			used_add(b.addr, b.size, b.io);
		if (b.is64)
			i++;
	}
	return false;
}

static uint64_t
find_space(uint64_t size, bool io)
{
	uint64_t base = io ? IO_ASSIGN_BASE : MMIO_ASSIGN_BASE;
	uint64_t end = io ? IO_ASSIGN_END : MMIO_ASSIGN_END;
	uint64_t cand = ALIGN_UP(base, size);

	for (bool moved = true; moved && cand + size <= end;) {
		moved = false;
		for (unsigned int i = 0; i < used.n; i++) {
			if (used.r[i].io != io || cand >= used.r[i].end ||
			    cand + size <= used.r[i].start)
				continue;
			cand = ALIGN_UP(used.r[i].end, size);
			moved = true;
		}
	}
	return cand + size <= end ? cand : 0;
}

static bool
bar_assign(const struct pci_dev *d, unsigned int index, struct pci_bar *b)
{
	if (!used_known) {
		pci_each(collect_bars, 0);
		used_known = true;
	}
	uint64_t addr = find_space(b->size, b->io);
	if (!addr)
		return false;
	uint8_t off = PCI_BAR0 + index * 4;
	uint32_t flags = pci_read32(d, off) & (b->io ? 3 : 0xf);
	pci_write32(d, off, (uint32_t)addr | flags);
	if (b->is64)
		pci_write32(d, off + 4, (uint32_t)(addr >> 32));
	b->addr = addr;
	used_add(addr, b->size, b->io);
	return true;
}

bool
pci_bar(const struct pci_dev *d, unsigned int index, struct pci_bar *out)
{
	if (index >= bar_count(d) || !bar_probe(d, index, out))
		return false;
	if (out->addr && (out->io || out->addr + out->size <= FOUR_GIB))
		return true;
	return bar_assign(d, index, out);
}

void
pci_enable(const struct pci_dev *d)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);

	pci_write16(d, PCI_COMMAND, cmd | PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

void
pci_unassign_bars(const struct pci_dev *d)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);

	pci_write16(d, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	for (unsigned int i = 0; i < bar_count(d); i++) {
		uint8_t off = PCI_BAR0 + i * 4;
		uint32_t lo = pci_read32(d, off);
		bool io = lo & 1, is64 = !io && ((lo >> 1) & 3) == 2;
		pci_write32(d, off, lo & (io ? 3 : 0xf));
		if (is64) {
			i++;
			pci_write32(d, PCI_BAR0 + i * 4, 0);
		}
	}
}

uint8_t
pci_cap_first(const struct pci_dev *d)
{
	if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	return pci_read8(d, PCI_CAP_PTR) & 0xfc;
}

uint8_t
pci_cap_next(const struct pci_dev *d, uint8_t cap)
{
	return pci_read8(d, cap + 1) & 0xfc;
}
