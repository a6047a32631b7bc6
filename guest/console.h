/* The 8250 UART at 0x3F8, polled, and a small printf for the console markers. */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include <stdarg.h>

void console_init(void);
void console_putc(char c);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, unsigned long size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Every progress line starts with this, so tests can pick markers out of the console. */
#define MARK "vboxmem-guest: "
#define marker(fmt, ...) printf(MARK fmt "\n", ##__VA_ARGS__)

#endif
