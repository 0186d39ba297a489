#!/bin/sh
# Local stand-ins for the four base images that compose.yaml and containers/Containerfile name, for a
# Docker engine that reaches no image registry (only a Debian mirror, and PyPI for the image's build).
# It is how `just up` was checked on a machine without registry access (README, "Run it with containers").
#
# One Debian bookworm rootfs from mmdebstrap holds Python 3.11, RabbitMQ 3.10 (management plugin on)
# and Redis 7.0; it is imported under each image name with an entrypoint that does what compose.yaml
# relies on in the official image:
#   python:3.11-slim-bookworm   python3 as /usr/local/bin/python
#   rabbitmq:3.13-management    the default user and password from RABBITMQ_DEFAULT_USER/_PASS
#   redis:7-alpine              redis-server as the user redis (uid 999) in /data
#   ghcr.io/astral-sh/uv:0.13.9 the uv binary as /uv (from UV_BIN, default the uv on PATH)
# The versions differ from the real images' (RabbitMQ 3.10, not 3.13): a stand-in checks the wiring
# (build, health checks, users, volumes, scaling), not the servers' releases.
#
# Usage, as root with mmdebstrap and a running Docker engine:
#   scripts/standin-images.sh                 # about 3 minutes and 300 MB in $WORK (default /tmp/standin)
#   CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt scripts/standin-images.sh
# CA_BUNDLE: where HTTPS passes through a proxy with its own CA, that bundle goes into the Python
# image (with SSL_CERT_FILE and UV_SYSTEM_CERTS=1), so that uv in the image's build can reach PyPI.
# Remove $WORK afterwards; `docker image rm` the four names to drop the stand-ins.
set -eu
work=${WORK:-/tmp/standin}
uv_bin=${UV_BIN:-$(command -v uv)}
head -c 4 "$uv_bin" | grep -q ELF || { echo "UV_BIN=$uv_bin is not the uv binary (a shim?): set UV_BIN" >&2; exit 2; }
mkdir -p "$work/uv"

cat > "$work/rabbitmq-entrypoint" <<'SH'
#!/bin/sh
set -e
{
  echo "loopback_users = none"
  [ -n "${RABBITMQ_DEFAULT_USER:-}" ] && echo "default_user = $RABBITMQ_DEFAULT_USER"
  [ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && echo "default_pass = $RABBITMQ_DEFAULT_PASS"
} > /etc/rabbitmq/rabbitmq.conf
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /etc/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env HOME=/var/lib/rabbitmq "$@"
SH
cat > "$work/redis-entrypoint" <<'SH'
#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
exec "$@"
SH

ca_hook=true
python_env=""
if [ -n "${CA_BUNDLE:-}" ]; then
  ca_hook="cp '$CA_BUNDLE' \"\$1/etc/ssl/certs/ca-certificates.crt\""
  python_env="ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt UV_SYSTEM_CERTS=1"
fi
mmdebstrap --variant=minbase \
  --include=python3,rabbitmq-server,redis-server,redis-tools,ca-certificates \
  --customize-hook='chroot "$1" sh -ec "groupmod -g 999 redis && usermod -u 999 -g 999 redis
    chown -R redis:redis /var/lib/redis /var/log/redis /etc/redis
    mkdir -p /data /usr/local/etc/redis && chown redis:redis /data
    ln -s /usr/bin/python3 /usr/local/bin/python"' \
  --customize-hook='echo "[rabbitmq_management]." > "$1/etc/rabbitmq/enabled_plugins"' \
  --customize-hook="install -m 0755 '$work/rabbitmq-entrypoint' \"\$1/usr/local/bin/rabbitmq-entrypoint\"" \
  --customize-hook="install -m 0755 '$work/redis-entrypoint' \"\$1/usr/local/bin/docker-entrypoint.sh\"" \
  --customize-hook="$ca_hook" \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*' \
  bookworm "$work/rootfs.tar"

docker import --change 'ENV LANG=C.UTF-8' ${python_env:+--change "$python_env"} --change 'CMD ["python3"]' \
  "$work/rootfs.tar" python:3.11-slim-bookworm
docker import --change 'ENTRYPOINT ["rabbitmq-entrypoint"]' --change 'CMD ["rabbitmq-server"]' \
  "$work/rootfs.tar" rabbitmq:3.13-management
docker import --change 'WORKDIR /data' --change 'ENTRYPOINT ["docker-entrypoint.sh"]' --change 'CMD ["redis-server"]' \
  "$work/rootfs.tar" redis:7-alpine
cp "$uv_bin" "$work/uv/uv"
tar -C "$work/uv" -cf "$work/uv.tar" uv
docker import "$work/uv.tar" ghcr.io/astral-sh/uv:0.13.9
rm -f "$work/rootfs.tar" "$work/uv.tar"
docker images python:3.11-slim-bookworm
