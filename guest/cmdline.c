#include "cmdline.h"

#include "console.h"
#include "lib.h"

#define PREFIX "vboxmem."
#define FLOOD_COUNT_DEFAULT 100000

struct options opts = {.flood_count = FLOOD_COUNT_DEFAULT};

bool
parse_uint(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static size_t
digits(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

bool
parse_size_pages(const char *s, size_t len, uint64_t *pages)
{
	size_t n = digits(s, len);
	uint64_t v, shift;

	if (!parse_uint(s, n, &v))
		return false;
	const char *u = s + n;
	size_t ul = len - n;
	if (ul == 0 && v == 0) {
		*pages = 0; /* the one size that needs no unit */
		return true;
	}
	if (ul == 0)
		return false;
	if (u[0] == 'p' && (ul == 1 || span_is(u, ul, "pages"))) {
		*pages = v;
		return true;
	}
	switch (u[0]) {
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	default:
		return false;
	}
	if (!(ul == 1 || span_is(u + 1, ul - 1, "iB") || span_is(u + 1, ul - 1, "B")))
		return false;
	if (v >> (63 - shift))
		return false;
	*pages = ALIGN_UP(v << shift, PAGE_SIZE) >> PAGE_SHIFT;
	return true;
}

bool
parse_time_ms(const char *s, size_t len, uint64_t *ms)
{
	size_t n = digits(s, len);
	uint64_t v;

	if (!parse_uint(s, n, &v) || v > 1000000000ull)
		return false;
	if (span_is(s + n, len - n, "ms"))
		*ms = v;
	else if (span_is(s + n, len - n, "s"))
		*ms = v * 1000;
	else if (span_is(s + n, len - n, "m"))
		*ms = v * 60000;
	else
		return false;
	return true;
}

static bool
copy_value(char *dst, size_t size, const char *v, size_t len)
{
	if (len >= size)
		return false;
	memcpy(dst, v, len);
	dst[len] = 0;
	return true;
}

static bool
set_option(const char *key, size_t klen, const char *v, size_t vlen)
{
#define KEY(name) span_is(key, klen, name)
	if (KEY("script"))
		return copy_value(opts.script, sizeof(opts.script), v, vlen);
	if (KEY("hostile"))
		return copy_value(opts.hostile, sizeof(opts.hostile), v, vlen);
	if (KEY("report_delay")) {
		opts.have_report_delay = true;
		return parse_time_ms(v, vlen, &opts.report_delay_ms);
	}
	if (KEY("flood"))
		return parse_uint(v, vlen, &opts.flood_count);
	if (KEY("pci")) {
		opts.pci_reassign = span_is(v, vlen, "reassign");
		return opts.pci_reassign || span_is(v, vlen, "keep");
	}
	if (KEY("msix")) {
		opts.msix = span_is(v, vlen, "on");
		return opts.msix || span_is(v, vlen, "off");
	}
	if (KEY("balloon")) {
		opts.balloon_off = span_is(v, vlen, "off");
		return opts.balloon_off || span_is(v, vlen, "on");
	}
#undef KEY
	return false;
}

int
cmdline_parse(const char *cmdline)
{
	int errors = 0;
	const char *p = cmdline;

	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		const char *word = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
		size_t len = (size_t)(p - word);
		/* Everything else (console=, the kernel's own options) is not ours. */
		if (len <= strlen(PREFIX) || strncmp(word, PREFIX, strlen(PREFIX)) != 0)
			continue;
		const char *key = word + strlen(PREFIX), *eq = key;
		while (eq < p && *eq != '=')
			eq++;
		const char *val = eq < p ? eq + 1 : p;
		if (!set_option(key, (size_t)(eq - key), val, (size_t)(p - val))) {
			marker("error cmdline: bad option '%.*s'", (int)len, word);
			errors++;
		}
	}
	return errors;
}
