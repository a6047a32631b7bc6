/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * The main() of a fuzz target built without libFuzzer: runs
 * LLVMFuzzerTestOneInput() once on every file given, and on every file of
 * every directory given (in name order, hidden files skipped), as the meson
 * test fuzz-<name>-corpus does on tests/fuzz/corpus/<name>/.
 *
 * Each input is read into a heap buffer of exactly its size, as libFuzzer
 * passes it, so that under AddressSanitizer (build-asan/) a read past its
 * end is caught here too. Names are printed before each run: if one crashes,
 * the last line names it.
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static void
die(const char *path, const char *what)
{
	fprintf(stderr, "fuzz-replay: %s: %s: %s\n", path, what, strerror(errno));
	exit(1);
}

static void
run_file(const char *path)
{
	struct stat st;
	uint8_t *data;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		die(path, "cannot open");
	/* Exactly its size; malloc(0) may return NULL, and libFuzzer passes a valid pointer. */
	data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (data == NULL)
		die(path, "cannot allocate");
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, data + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(path, "cannot read");
		done += (size_t)n;
	}
	close(fd);
	printf("%s (%zu bytes)\n", path, done);
	fflush(stdout);
	LLVMFuzzerTestOneInput(data, done);
	free(data);
}

static int
not_hidden(const struct dirent *entry)
{
	return entry->d_name[0] != '.';
}

static unsigned
run_path(const char *path)
{
	struct dirent **entries;
	struct stat st;
	int n;

	if (stat(path, &st) < 0)
		die(path, "cannot open");
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return 1;
	}
	n = scandir(path, &entries, not_hidden, alphasort);
	if (n < 0)
		die(path, "cannot list");
	for (int i = 0; i < n; i++) {
		size_t length = strlen(path) + strlen(entries[i]->d_name) + 2;
		char *file = malloc(length);

		if (file == NULL)
			die(path, "cannot allocate");
		snprintf(file, length, "%s/%s", path, entries[i]->d_name);
		run_file(file);
		free(file);
		free(entries[i]);
	}
	free(entries);
	return (unsigned)n;
}

int
main(int argc, char **argv)
{
	unsigned runs = 0;

	for (int i = 1; i < argc; i++)
		runs += run_path(argv[i]);
	if (runs == 0) {
		fprintf(stderr, "usage: %s CORPUS-DIRECTORY-OR-FILE...: no input given\n", argv[0]);
		return 1;
	}
	printf("%u inputs, none failed\n", runs);
	return 0;
}
