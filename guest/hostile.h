/*
 * Hostile modes: a guest that misbehaves on purpose, so tests can check that the VMM
 * survives it. The guest only produces the misbehaviour and says on the console what
 * it did and how the device answered.
 */
#ifndef GUEST_HOSTILE_H
#define GUEST_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

struct virtio_balloon_stat;

/* Runs a comma-separated list of modes; returns the number of unknown ones. */
int hostile_run(const char *list, size_t len);

/* Balloon hooks for the lasting modes. */
void hostile_on_target(void);
uint32_t hostile_fill_stats(struct virtio_balloon_stat *stats, uint32_t max_bytes);

#endif
