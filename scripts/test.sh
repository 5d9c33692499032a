#!/usr/bin/env bash
# test.sh - run every test: formatting, lints, unit tests, and the lab tests
# (which build network namespaces, so they need root). Works as root (CI,
# a fresh machine) and as a user with sudo: the build stays the user's, and
# only the test binaries run through sudo. Without root or sudo the lab tests
# are skipped with a loud notice; under CI=true they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin
# shellcheck source=scripts/common.sh
source scripts/common.sh

runner=()
if can_be_root; then
	as_root scripts/deps.sh test
	if [[ $(id -u) -ne 0 ]]; then
		runner=(--config "target.'cfg(all())'.runner = ['sudo', '-E']")
	fi
else
	echo "test.sh: neither root nor sudo: the lab tests will be skipped" >&2
fi
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# Release build: the lab tests scan at 100,000 packets a second.
cargo test --release "${runner[@]}" "$@"
