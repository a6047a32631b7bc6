#!/bin/sh
# Fails when groff warns about any of the man pages given (-ww: all warnings).
set -eu
groff=${GROFF:-groff}
status=0
for page in "$@"; do
	warnings=$(LC_ALL=C.UTF-8 "$groff" -man -ww -z -Tutf8 "$page" 2>&1 >/dev/null) || status=1
	if [ -n "$warnings" ]; then
		printf '%s:\n%s\n' "$page" "$warnings" >&2
		status=1
	fi
done
exit $status
