# Shared by tools/test and tools/demo: dependencies, test users, builds.
# shellcheck shell=bash

VBOXMEM_SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly VBOXMEM_SOURCE_DIR

# Debian packages needed to build vboxmem and run its tests.
readonly VBOXMEM_DEBIAN_PACKAGES=(
	meson ninja-build pkg-config gcc
	libglib2.0-dev libglib2.0-bin libpolkit-gobject-1-dev libpolkit-agent-1-dev
	gtk-doc-tools gobject-introspection libgirepository1.0-dev
	dbus dbus-bin dbus-daemon polkitd systemd
	python3-gi gir1.2-glib-2.0
	libxml2-utils gettext clang-format util-linux passwd
	musl-tools linux-libc-dev qemu-system-x86 procps lz4
	clang libclang-rt-dev
)

# The unprivileged user vboxmem-vm runs as (also created by the install: data/vboxmem.sysusers).
readonly VBOXMEM_SERVICE_USER=vboxmem

readonly VBOXMEM_TEST_GROUP=vboxmem-test
readonly VBOXMEM_TEST_USER_IN_GROUP=vboxmem-test1
readonly VBOXMEM_TEST_USER_OUTSIDE=vboxmem-test2

vbm_heading() {
	printf '\n== %s\n' "$*"
}

vbm_die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

vbm_require_root() {
	[[ $EUID -eq 0 ]] || vbm_die "must be run as root: it installs packages, creates test users and runs polkitd"
}

vbm_missing_packages() {
	local package status
	for package in "${VBOXMEM_DEBIAN_PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null) || status=
		[[ $status == ii* ]] || echo "$package"
	done
}

vbm_install_deps() {
	local missing
	mapfile -t missing < <(vbm_missing_packages)
	if [[ ${#missing[@]} -eq 0 ]]; then
		echo "All ${#VBOXMEM_DEBIAN_PACKAGES[@]} build and test packages are installed."
		return 0
	fi
	echo "Installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -q -y --no-install-recommends "${missing[@]}"
}

vbm_create_test_users() {
	if ! getent group "$VBOXMEM_TEST_GROUP" >/dev/null; then
		groupadd --system "$VBOXMEM_TEST_GROUP"
	fi
	if ! getent passwd "$VBOXMEM_TEST_USER_IN_GROUP" >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
			--gid "$VBOXMEM_TEST_GROUP" "$VBOXMEM_TEST_USER_IN_GROUP"
	fi
	if ! id -nG "$VBOXMEM_TEST_USER_IN_GROUP" | grep -qw -- "$VBOXMEM_TEST_GROUP"; then
		usermod --append --groups "$VBOXMEM_TEST_GROUP" "$VBOXMEM_TEST_USER_IN_GROUP"
	fi
	if ! getent passwd "$VBOXMEM_TEST_USER_OUTSIDE" >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
			--user-group "$VBOXMEM_TEST_USER_OUTSIDE"
	fi
	if id -nG "$VBOXMEM_TEST_USER_OUTSIDE" | grep -qw -- "$VBOXMEM_TEST_GROUP"; then
		vbm_die "$VBOXMEM_TEST_USER_OUTSIDE must not be in group $VBOXMEM_TEST_GROUP"
	fi
	echo "Test users: $(id "$VBOXMEM_TEST_USER_IN_GROUP"); $(id "$VBOXMEM_TEST_USER_OUTSIDE")"
}

vbm_create_service_user() {
	if ! getent passwd "$VBOXMEM_SERVICE_USER" >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
			--user-group "$VBOXMEM_SERVICE_USER"
	fi
	echo "Service user: $(id "$VBOXMEM_SERVICE_USER")"
}

# vbm_build [--cc CC] [--target TARGET]... DIR [MESON_OPTION]...: configures (or
# reconfigures) and builds DIR. --cc is the C compiler of a new DIR (meson keeps
# the one an existing DIR was set up with); --target builds only that ninja target
# (a path in DIR, e.g. tests/fuzz/fuzz-elf) instead of everything.
vbm_build() {
	local cc="" targets=()
	while [[ $# -gt 0 ]]; do
		case $1 in
		--cc) cc=$2 ;;
		--target) targets+=("$2") ;;
		*) break ;;
		esac
		shift 2
	done
	local dir=$1
	shift
	if [[ -f $dir/build.ninja ]]; then
		meson setup --reconfigure "$dir" "$VBOXMEM_SOURCE_DIR" "$@"
	elif [[ -n $cc ]]; then
		CC=$cc meson setup "$dir" "$VBOXMEM_SOURCE_DIR" "$@"
	else
		meson setup "$dir" "$VBOXMEM_SOURCE_DIR" "$@"
	fi
	ninja -C "$dir" "${targets[@]}"
}
