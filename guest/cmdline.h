/* The guest's command line: vboxmem.* options and the value syntax they share. */
#ifndef GUEST_CMDLINE_H
#define GUEST_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPT_VALUE_MAX 1024

struct options {
	char script[OPT_VALUE_MAX];
	char hostile[128];
	bool balloon_off;
	bool pci_reassign;
	bool msix;
	bool have_report_delay;
	uint64_t report_delay_ms;
	uint64_t flood_count;
};

extern struct options opts;

/* Parses boot.cmdline into opts; returns the number of errors (each reported). */
int cmdline_parse(const char *cmdline);

/* Value parsers over a [s, s + len) slice; false when malformed. */
bool parse_uint(const char *s, size_t len, uint64_t *out);
/* N followed by K, M, G (KiB, MiB, GiB; "iB" optional) or p (4 KiB pages), or 0: in pages. */
bool parse_size_pages(const char *s, size_t len, uint64_t *pages);
/* N followed by ms, s or m. */
bool parse_time_ms(const char *s, size_t len, uint64_t *ms);

#endif
