/*
 * The two ways in: vboxmem-vm's direct ring-3 entry (64-bit, CPL 3, everything
 * identity-mapped already) and the Xen PVH entry (32-bit, paging off, ring 0; QEMU's
 * -kernel), which builds its own identity map first. Both end in guest_main().
 * No interrupts are ever enabled: the guest polls.
 */

#define VBOXMEM_NOTE_ENTRY 1
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PV_PORT_IDLE 0x0f40
#define STACK_SIZE 65536
#define PVH_MAP_GIB 64 /* the same limit as vboxmem-vm's own page tables */

#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define PTE_PRESENT_RW 0x3
#define PDE_LARGE 0x83 /* present, writable, 2 MiB */

/* QEMU reads the PVH note with the PT_NOTE segment's alignment: keep it at 4. */
	.section .note.vboxmem, "a", @note
	.balign 4
	.long 2f - 1f                  /* namesz */
	.long 4f - 3f                  /* descsz */
	.long VBOXMEM_NOTE_ENTRY
1:	.asciz "vboxmem"
2:	.balign 4
3:	.quad ring3_start
4:	.balign 4

	.section .note.Xen, "a", @note
	.balign 4
	.long 2f - 1f
	.long 4f - 3f
	.long XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz "Xen"
2:	.balign 4
3:	.quad pvh_start
4:	.balign 4

	.section .text.entry, "ax"

/* RBX = hvm_start_info (0 on secondary vCPUs, RDI = vCPU index), RSP = 0. */
	.code64
	.globl ring3_start
ring3_start:
	test %rbx, %rbx
	jz park
	cld
	/* Zero .bss but not the PVH page tables, which this entry never uses. */
	lea __bss_start(%rip), %rdi
	lea __pvh_tables_start(%rip), %rcx
	sub %rdi, %rcx
	xor %eax, %eax
	rep stosb
	lea stack_top(%rip), %rsp
	mov %rbx, %rdi
	xor %esi, %esi                 /* ENTRY_RING3 */
	call guest_main
park:
	xor %eax, %eax
	mov $PV_PORT_IDLE, %dx
1:	outl %eax, %dx
	jmp 1b

/* EBX = hvm_start_info. */
	.code32
	.globl pvh_start
pvh_start:
	cli
	cld
	mov %ebx, %esi
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb

	/* PML4[0] -> PDPT; PDPT[i] -> PD i; PD entries map 2 MiB each, identity. */
	movl $pvh_pdpt + PTE_PRESENT_RW, pvh_pml4
	mov $pvh_pdpt, %edi
	mov $pvh_pd + PTE_PRESENT_RW, %eax
	mov $PVH_MAP_GIB, %ecx
1:	mov %eax, (%edi)
	add $8, %edi
	add $4096, %eax
	loop 1b

	mov $pvh_pd, %edi
	mov $PDE_LARGE, %eax           /* low half of the entry */
	xor %edx, %edx                 /* high half */
	mov $PVH_MAP_GIB * 512, %ecx
2:	mov %eax, (%edi)
	mov %edx, 4(%edi)
	add $8, %edi
	add $0x200000, %eax
	adc $0, %edx
	loop 2b

	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $pvh_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	lgdt pvh_gdt_desc
	mov %cr0, %eax
	or $CR0_PG, %eax
	mov %eax, %cr0
	ljmp $0x08, $pvh_long

	.code64
pvh_long:
	mov $0x10, %eax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs
	lea stack_top(%rip), %rsp
	mov %esi, %edi                 /* zero-extends: hvm_start_info */
	mov $1, %esi                   /* ENTRY_PVH */
	call guest_main
3:	cli
	hlt
	jmp 3b

	.section .rodata
	.balign 8
pvh_gdt:
	.quad 0
	.quad 0x00af9a000000ffff       /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff       /* 0x10: data */
pvh_gdt_end:
pvh_gdt_desc:
	.word pvh_gdt_end - pvh_gdt - 1
	.long pvh_gdt

	.section .bss
	.balign 16
stack:
	.skip STACK_SIZE
stack_top:

	.section .pvh_tables, "aw", @nobits
	.balign 4096
pvh_pml4:
	.skip 4096
pvh_pdpt:
	.skip 4096
pvh_pd:
	.skip 4096 * PVH_MAP_GIB

	.section .note.GNU-stack, "", @progbits
