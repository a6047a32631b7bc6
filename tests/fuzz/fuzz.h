/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

/*
 * What every fuzz target shares. A target defines LLVMFuzzerTestOneInput();
 * built with libFuzzer (clang, -Dfuzzing=true, VBOXMEM_LIBFUZZER defined)
 * libFuzzer calls it, otherwise fuzz-replay.c's main() calls it once per
 * file of the corpus given (docs/fuzzing.md).
 *
 * A property a target checks fails with FUZZ_CHECK(), which aborts whatever
 * the build (no NDEBUG, no G_DISABLE_ASSERT): libFuzzer and the replay
 * report it as a crash of that input.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn)) static inline void
fuzz_check_failed(const char *file, int line, const char *expression)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expression);
	abort();
}

#define FUZZ_CHECK(expression)                                                                     \
	((expression) ? (void)0 : fuzz_check_failed(__FILE__, __LINE__, #expression))
