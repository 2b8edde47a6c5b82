#!/usr/bin/env bash
# Install bubblewrap (the sandbox's namespace tool) if it is missing and we are allowed to.
# Without it the executor still works, with rlimits only, and says so loudly.
if command -v bwrap >/dev/null 2>&1; then exit 0; fi
echo "bubblewrap (bwrap) not found; trying to install it with apt..."
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi
if [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq bubblewrap >/dev/null 2>&1 || true
fi
command -v bwrap >/dev/null 2>&1 && echo "installed bwrap" || \
  echo "WARNING: could not install bubblewrap; untrusted code will run with rlimits only (install the 'bubblewrap' package)"
exit 0
