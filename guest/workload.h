/* The scripted memory workload (vboxmem.script=, grammar in README.md). */
#ifndef GUEST_WORKLOAD_H
#define GUEST_WORKLOAD_H

#include <stdbool.h>

#define WORKLOAD_CONTINUE (-1)

/* Checks the whole script first; returns the number of errors (each reported). */
int workload_parse(const char *script);

/* Runs the script. Returns the exit status if it ends with exit, else WORKLOAD_CONTINUE. */
int workload_run(void);

/* Keeps the devices served while a long step runs; cheap when nothing is due. */
void workload_tick(void);

#endif
