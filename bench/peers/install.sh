#!/usr/bin/env bash
# Installs the peers from Debian packages (used by 'make bench-peers').
# Package names checked with apt-cache policy on Debian bookworm:
# redis-server 7.0, postgresql 15, nats-server 2.9 (nats.sh builds a newer
# nats-server from its Go module when the packaged one lacks sync_interval).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y redis-server postgresql nats-server
