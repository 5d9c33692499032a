#!/usr/bin/env bash
# test.sh - run every test: formatting, lints, unit tests, and the lab tests
# (which build network namespaces, so they need root; as non-root they are
# skipped with a loud notice, and under CI=true they fail instead).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin

if [[ $(id -u) -eq 0 ]]; then
	scripts/deps.sh test
fi
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# Release build: the lab tests scan at 100,000 packets a second.
cargo test --release "$@"
