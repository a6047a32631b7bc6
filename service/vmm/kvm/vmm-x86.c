/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm-boot-private.h"
#include "vmm-error.h"
#include "vmm-x86.h"

#define GIB (UINT64_C(1) << 30)
#define HUGE_PAGE (UINT64_C(2) << 20)
#define MMIO_START (UINT64_C(3) << 30)
#define MAX_MAPPED_GIB ((VMM_BOOT_PAGE_TABLES_END - VMM_BOOT_PAGE_TABLES) / 4096 - 2)

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITE (1ull << 1)
#define PTE_USER (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_HUGE (1ull << 7)

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define RFLAGS_FIXED 0x2ull
#define TSS_SIZE 0x68
#define IO_BITMAP_BYTES (65536 / 8)
#define TSS_LIMIT (TSS_SIZE + IO_BITMAP_BYTES)
#define RFLAGS_IOPL3 (3ull << 12)

/* GDT selectors, in the order of gdt_entries below. */
enum {
	SEL_CODE32 = 0x08,
	SEL_CODE64 = 0x10,
	SEL_DATA = 0x18,
	SEL_USER_CODE64 = 0x20,
	SEL_USER_DATA = 0x28,
	SEL_TSS = 0x30,
};

typedef struct {
	uint16_t selector;
	uint8_t type;
	uint8_t dpl;
	bool code64;
	bool big;
} Segment;

static const Segment segments[] = {
	{SEL_CODE32, 0xb, 0, false, true},
	{SEL_CODE64, 0xb, 0, true, false},
	{SEL_DATA, 0x3, 0, false, true},
	{SEL_USER_CODE64, 0xb, 3, true, false},
	{SEL_USER_DATA, 0x3, 3, false, true},
};

static uint64_t
gdt_descriptor(const Segment *s)
{
	uint64_t limit = 0xfffff;
	uint64_t access = 0x80 | (uint64_t)s->dpl << 5 | 0x10 | s->type;
	uint64_t flags = 0x8 | (s->code64 ? 0x2 : 0) | (s->big ? 0x4 : 0);

	return (limit & 0xffff) | ((limit >> 16) & 0xf) << 48 | access << 40 | flags << 52;
}

static bool
write_gdt(VmmMemory *memory, VmmError **error)
{
	uint64_t gdt[SEL_TSS / 8 + 2] = {0};

	for (unsigned i = 0; i < VMM_N_ELEMENTS(segments); i++)
		gdt[segments[i].selector / 8] = gdt_descriptor(&segments[i]);
	gdt[SEL_TSS / 8] = (TSS_LIMIT & 0xffff) | (uint64_t)VMM_BOOT_TSS << 16 | 0x8bull << 40;
	return vmm_boot_write(memory, VMM_BOOT_GDT, gdt, sizeof(gdt), "GDT", error);
}

/*
 * A TSS whose I/O permission bitmap allows every port. IOPL 3 alone does not
 * let ring 3 reach the ports under every KVM (nested PVM checks the bitmap).
 */
static bool
write_tss(VmmMemory *memory, VmmError **error)
{
	vmm_autofree uint8_t *tss = vmm_alloc0(1, TSS_LIMIT + 1);

	tss[0x66] = TSS_SIZE & 0xff;
	tss[0x67] = TSS_SIZE >> 8;
	tss[TSS_LIMIT] = 0xff;
	return vmm_boot_write(memory, VMM_BOOT_TSS, tss, TSS_LIMIT + 1, "TSS", error);
}

static uint64_t *
table_at(VmmMemory *memory, uint64_t address)
{
	return vmm_memory_get(memory, address, 4096);
}

/* Maps [start, end) with 2 MiB pages in the PD of each GiB it touches. */
static void
map_range(VmmMemory *memory, uint64_t start, uint64_t end, uint64_t flags)
{
	uint64_t *pdpt = table_at(memory, VMM_BOOT_PAGE_TABLES + 0x1000);

	start &= ~(HUGE_PAGE - 1);
	for (uint64_t address = start; address < end; address += HUGE_PAGE) {
		uint64_t gib = address / GIB;
		uint64_t pd_address = VMM_BOOT_PAGE_TABLES + 0x2000 + gib * 0x1000;
		uint64_t *pd = table_at(memory, pd_address);

		pdpt[gib] = pd_address | PTE_PRESENT | PTE_WRITE | PTE_USER;
		pd[(address % GIB) / HUGE_PAGE] =
			address | PTE_PRESENT | PTE_WRITE | PTE_HUGE | flags;
	}
}

static bool
write_page_tables(VmmMemory *memory, bool user, VmmError **error)
{
	uint64_t *pml4 = table_at(memory, VMM_BOOT_PAGE_TABLES);
	uint64_t flags = user ? PTE_USER : 0;
	uint64_t ram_end = 0;

	for (unsigned i = 0; i < memory->n_regions; i++)
		ram_end = VMM_MAX(ram_end,
				  memory->regions[i].guest_address + memory->regions[i].size);
	if (ram_end > MAX_MAPPED_GIB * GIB)
		return vmm_set_error(error,
				     ENOTSUP,
				     "Guests up to %u GiB are supported",
				     (unsigned)MAX_MAPPED_GIB - 1);
	memset(pml4, 0, VMM_BOOT_PAGE_TABLES_END - VMM_BOOT_PAGE_TABLES);
	pml4[0] = (VMM_BOOT_PAGE_TABLES + 0x1000) | PTE_PRESENT | PTE_WRITE | PTE_USER;
	for (unsigned i = 0; i < memory->n_regions; i++)
		map_range(memory,
			  memory->regions[i].guest_address,
			  memory->regions[i].guest_address + memory->regions[i].size,
			  flags);
	map_range(memory, MMIO_START, 4 * GIB, flags | PTE_PCD | PTE_PWT);
	return true;
}

bool
vmm_x86_write_boot_tables(VmmMemory *memory, const VmmBootInfo *info, VmmError **error)
{
	if (!write_gdt(memory, error) || !write_tss(memory, error))
		return false;
	if (info->kind == VMM_ENTRY_PVH)
		return true;
	return write_page_tables(memory, info->kind == VMM_ENTRY_RING3, error);
}

static struct kvm_segment
kvm_segment_for(uint16_t selector)
{
	struct kvm_segment seg = {.limit = 0xffffffff, .present = 1, .s = 1, .g = 1};

	for (unsigned i = 0; i < VMM_N_ELEMENTS(segments); i++) {
		if (segments[i].selector != selector)
			continue;
		seg.selector = selector | segments[i].dpl;
		seg.type = segments[i].type;
		seg.dpl = segments[i].dpl;
		seg.l = segments[i].code64;
		seg.db = segments[i].big;
	}
	return seg;
}

static void
set_segments(struct kvm_sregs *sregs, uint16_t code, uint16_t data)
{
	struct kvm_segment tss = {
		.base = VMM_BOOT_TSS,
		.limit = TSS_LIMIT,
		.selector = SEL_TSS,
		.type = 0xb,
		.present = 1,
	};

	sregs->cs = kvm_segment_for(code);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = kvm_segment_for(data);
	sregs->tr = tss;
	sregs->gdt.base = VMM_BOOT_GDT;
	sregs->gdt.limit = SEL_TSS + 16 - 1;
}

static void
set_mode(const VmmBootInfo *info, struct kvm_sregs *sregs, struct kvm_regs *regs, unsigned index)
{
	switch (info->kind) {
	case VMM_ENTRY_PVH:
		set_segments(sregs, SEL_CODE32, SEL_DATA);
		sregs->cr0 = CR0_PE | CR0_ET;
		sregs->cr4 = 0;
		sregs->efer = 0;
		regs->rbx = info->boot_data;
		break;
	case VMM_ENTRY_LINUX64:
		set_segments(sregs, SEL_CODE64, SEL_DATA);
		sregs->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
		sregs->cr4 = CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
		sregs->cr3 = VMM_BOOT_PAGE_TABLES;
		regs->rsi = info->boot_data;
		break;
	case VMM_ENTRY_RING3:
		set_segments(sregs, SEL_USER_CODE64, SEL_USER_DATA);
		sregs->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
		sregs->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
		sregs->efer = EFER_LME | EFER_LMA;
		sregs->cr3 = VMM_BOOT_PAGE_TABLES;
		regs->rflags |= RFLAGS_IOPL3;
		regs->rbx = index == 0 ? info->boot_data : 0;
		regs->rdi = index;
		break;
	}
}

/* Puts vCPU @index at the image's entry. Only the ring-3 entry starts every vCPU there. */
bool
vmm_x86_setup_vcpu(int vcpu_fd, const VmmBootInfo *info, unsigned index, VmmError **error)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {.rflags = RFLAGS_FIXED, .rip = info->entry};
	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
	struct kvm_mp_state runnable = {.mp_state = KVM_MP_STATE_RUNNABLE};

	if (index > 0 && info->kind != VMM_ENTRY_RING3)
		return true;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return vmm_error_from_errno(error, "KVM_GET_SREGS");
	set_mode(info, &sregs, &regs, index);
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return vmm_error_from_errno(error, "KVM_SET_SREGS");
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return vmm_error_from_errno(error, "KVM_SET_REGS");
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return vmm_error_from_errno(error, "KVM_SET_FPU");
	/* Secondary vCPUs would otherwise wait for an INIT/SIPI that a ring-3 guest cannot send. */
	if (index > 0 && ioctl(vcpu_fd, KVM_SET_MP_STATE, &runnable) < 0)
		return vmm_error_from_errno(error, "KVM_SET_MP_STATE");
	return true;
}
