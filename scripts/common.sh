# common.sh - sourced by the project's scripts: run a command as root,
# directly when we are root (a fresh Debian machine has no sudo), else
# through sudo (a user's workstation).

# can_be_root: are we root, or can sudo make us so?
can_be_root() {
	[[ $(id -u) -eq 0 ]] || command -v sudo >/dev/null 2>&1
}

# as_root CMD...: CMD with root's privileges, or a one-line error.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "${0##*/}: '$1' needs root: run this script as root, or install sudo" >&2
		exit 1
	fi
}
