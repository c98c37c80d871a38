#!/usr/bin/env bash
# The platform check the Makefile runs before any target: prints one line per thing missing
# (nothing when this machine is supported) and always exits 0; the Makefile stops on any output.
#
# Supported for `make dev`, `make test` (and e2e, bench, build, deploy): Linux on x86_64 or
# arm64, with bash >= 4 (mapfile, ${#array[@]} under set -u), GNU coreutils (stat -c),
# util-linux's setsid and procps' ps (ps --ppid): infra/local/dev.sh and the Makefile use them.
# macOS (bash 3.2, BSD stat and ps, no setsid) is not supported; README.md, "Platforms".
#
# SKIP_PLATFORM_CHECK=1 in the environment (or on make's command line) skips the check.

problems=()

os=$(uname -s 2>/dev/null || echo unknown)
arch=$(uname -m 2>/dev/null || echo unknown)
if [[ $os != Linux ]]; then
  problems+=("the operating system is $os, not Linux")
fi
case $arch in
  x86_64 | amd64 | aarch64 | arm64) ;;
  *) problems+=("the machine is $arch, not x86_64 or arm64") ;;
esac

# The bash the scripts' `#!/usr/bin/env bash` finds, not necessarily the one running this.
bash_major=$(bash -c 'echo "${BASH_VERSINFO[0]}"' 2>/dev/null || echo 0)
if ! [[ $bash_major =~ ^[0-9]+$ ]] || (( bash_major < 4 )); then
  problems+=("bash on PATH is version ${bash_major:-unknown}, 4 or later is needed")
fi
if ! command -v setsid >/dev/null 2>&1; then
  problems+=("setsid is missing (util-linux)")
fi
if ! ps -o pid= --ppid 1 >/dev/null 2>&1; then
  problems+=("ps does not take --ppid (procps is needed)")
fi
if ! stat -c %s /dev/null >/dev/null 2>&1; then
  problems+=("stat does not take -c (GNU coreutils is needed)")
fi

if (( ${#problems[@]} > 0 )); then
  # One line: make's $(shell) turns newlines into spaces anyway.
  joined=$(printf '%s; ' "${problems[@]}")
  echo "${joined%; }"
fi
exit 0
