#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the dashboard's headless browser tests, if
# missing (/usr/bin/chromium, /usr/bin/chromedriver). Idempotent; needs root or sudo.
set -u
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  echo "Chromium: $(/usr/bin/chromium --version 2>/dev/null)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
echo "installing Debian chromium + chromium-driver..."
$SUDO apt-get update -qq || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver \
  || echo "Chromium install failed: the browser tests will skip (or fail under CI)" >&2
