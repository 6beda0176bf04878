#!/usr/bin/env bash
# Installs the Debian packages the tests and the benchmark use, when missing:
# nats-server (JetStream), prometheus (scrape test), kubectl (kustomize render
# test; the machine image ships a current one, Debian's is a fallback), openssl
# (throwaway certificates for the TLS tests) and
# python3-torch (the PyTorch CPU reference of `npm run bench`).
set -euo pipefail
want=()
command -v nats-server >/dev/null 2>&1 || want+=(nats-server)
command -v prometheus >/dev/null 2>&1 || want+=(prometheus)
command -v kubectl >/dev/null 2>&1 || want+=(kubernetes-client)
command -v openssl >/dev/null 2>&1 || want+=(openssl)
if [ "${WITH_TORCH:-0}" = 1 ]; then
  /usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || want+=(python3-torch)
fi
if [ ${#want[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${want[*]} (run as root, or: sudo apt-get install -y ${want[*]})" >&2
  exit 1
fi
echo "installing ${want[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null
