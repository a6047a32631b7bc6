#include "console.h"

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "lib.h"

#define COM1 0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_IIR 2
#define UART_IIR_FIFO 0xc0
#define UART_FIFO_SIZE 16
#define UART_LSR_THRE 0x20
#define UART_LCR_DLAB 0x80
#define UART_LCR_8N1 0x03

/* LSR reads as all ones when nothing decodes the port; give up instead of spinning forever. */
#define THRE_POLL_LIMIT 100000

/* Each port access is a VM exit: with a 16550A FIFO, poll LSR once per 16 bytes. */
static unsigned int fifo_size = 1;
static unsigned int fifo_room;

void
console_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, UART_LCR_DLAB);
	outb(COM1 + 0, 1); /* divisor 1: 115200 baud */
	outb(COM1 + 1, 0);
	outb(COM1 + UART_LCR, UART_LCR_8N1);
	outb(COM1 + UART_FCR, 0x07);
	outb(COM1 + UART_MCR, 0x03);
	if ((inb(COM1 + UART_IIR) & UART_IIR_FIFO) == UART_IIR_FIFO)
		fifo_size = UART_FIFO_SIZE;
}

void
console_putc(char c)
{
	for (int i = 0; !fifo_room && i < THRE_POLL_LIMIT; i++) {
		if (inb(COM1 + UART_LSR) & UART_LSR_THRE)
			fifo_room = fifo_size;
		else
			cpu_pause();
	}
	outb(COM1 + UART_THR, (uint8_t)c);
	if (fifo_room)
		fifo_room--;
}

struct sink {
	char *buf; /* NULL: the console */
	unsigned long size;
	unsigned long len;
};

static void
sink_put(struct sink *s, char c)
{
	if (!s->buf)
		console_putc(c);
	else if (s->len + 1 < s->size)
		s->buf[s->len] = c;
	s->len++;
}

struct spec {
	bool zero_pad;
	bool left;
	bool prec_arg; /* "%.*s": the precision comes from the arguments */
	int prec;      /* for %s: at most this many characters; -1: all */
	unsigned int width;
	unsigned int longs;
};

static void
put_number(struct sink *s, uint64_t v, unsigned int base, bool neg, bool upper, struct spec *sp)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	unsigned int n = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	unsigned int pad = sp->width > n ? sp->width - n : 0;
	if (!sp->left) {
		if (sp->zero_pad && neg) {
			sink_put(s, '-');
			n--;
		}
		while (pad--)
			sink_put(s, sp->zero_pad ? '0' : ' ');
	}
	while (n)
		sink_put(s, tmp[--n]);
	if (sp->left)
		while (pad--)
			sink_put(s, ' ');
}

static void
put_string(struct sink *s, const char *str, struct spec *sp)
{
	if (!str)
		str = "(null)";
	unsigned int n = 0;
	while (str[n] && (sp->prec < 0 || n < (unsigned int)sp->prec))
		n++;
	unsigned int pad = sp->width > n ? sp->width - n : 0;

	while (!sp->left && pad--)
		sink_put(s, ' ');
	for (unsigned int i = 0; i < n; i++)
		sink_put(s, str[i]);
	while (sp->left && pad--)
		sink_put(s, ' ');
}

static const char *
parse_spec(const char *f, struct spec *sp)
{
	*sp = (struct spec){.prec = -1};
	for (;; f++) {
		if (*f == '0')
			sp->zero_pad = true;
		else if (*f == '-')
			sp->left = true;
		else
			break;
	}
	while (*f >= '0' && *f <= '9')
		sp->width = sp->width * 10 + (unsigned int)(*f++ - '0');
	if (*f == '.' && f[1] == '*') {
		sp->prec_arg = true;
		f += 2;
	} else if (*f == '.') {
		sp->prec = 0;
		while (*++f >= '0' && *f <= '9')
			sp->prec = sp->prec * 10 + (*f - '0');
	}
	while (*f == 'l' || *f == 'z') {
		sp->longs++;
		f++;
	}
	return f;
}

static uint64_t
arg_unsigned(va_list *ap, unsigned int longs)
{
	return longs ? va_arg(*ap, uint64_t) : va_arg(*ap, unsigned int);
}

static int64_t
arg_signed(va_list *ap, unsigned int longs)
{
	return longs ? va_arg(*ap, int64_t) : va_arg(*ap, int);
}

static void
format(struct sink *s, const char *f, va_list ap)
{
	va_list aq;

	va_copy(aq, ap);
	for (; *f; f++) {
		if (*f != '%') {
			sink_put(s, *f);
			continue;
		}
		struct spec sp;
		f = parse_spec(f + 1, &sp);
		if (sp.prec_arg)
			sp.prec = va_arg(aq, int);
		switch (*f) {
		case 'd':
		case 'i': {
			int64_t v = arg_signed(&aq, sp.longs);
			put_number(s, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, false, &sp);
			break;
		}
		case 'u':
			put_number(s, arg_unsigned(&aq, sp.longs), 10, false, false, &sp);
			break;
		case 'x':
		case 'X':
			put_number(s, arg_unsigned(&aq, sp.longs), 16, false, *f == 'X', &sp);
			break;
		case 'p':
			sink_put(s, '0');
			sink_put(s, 'x');
			put_number(s, (uintptr_t)va_arg(aq, void *), 16, false, false, &sp);
			break;
		case 'c':
			sink_put(s, (char)va_arg(aq, int));
			break;
		case 's':
			put_string(s, va_arg(aq, const char *), &sp);
			break;
		case '%':
			sink_put(s, '%');
			break;
		default:
			sink_put(s, '%');
			if (!*f)
				goto out;
			sink_put(s, *f);
		}
	}
out:
	va_end(aq);
}

int
vprintf(const char *fmt, va_list ap)
{
	struct sink s = {0};

	format(&s, fmt, ap);
	return (int)s.len;
}

int
printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int
snprintf(char *buf, unsigned long size, const char *fmt, ...)
{
	struct sink s = {.buf = buf, .size = size};
	va_list ap;

	va_start(ap, fmt);
	format(&s, fmt, ap);
	va_end(ap);
	if (size)
		buf[s.len < size ? s.len : size - 1] = 0;
	return (int)s.len;
}
