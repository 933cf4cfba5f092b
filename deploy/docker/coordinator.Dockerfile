# tessera-coordinator on Debian 12, installed from the tessera-coordinator
# .deb (the same package, maintainer scripts and example configuration as a
# server install). The build context is the folder holding the packages:
#
#   cmake --build build --target deb-packages
#   docker build -f deploy/docker/coordinator.Dockerfile -t tessera-coordinator:0.1.0 build/packages
#
# Runs as uid/gid 10001 (fixed, so that Kubernetes can name it in
# runAsUser/fsGroup); listens on 7443; state in /var/lib/tessera-coordinator.
# Mount the configuration, certificates and key; see docs/deployment.md.
FROM debian:12-slim

# The package's postinst finds this user and keeps it, rather than making
# one with whatever system uid is free.
RUN groupadd --system --gid 10001 tessera-coordinator \
 && useradd --system --uid 10001 --gid tessera-coordinator \
      --home-dir /var/lib/tessera-coordinator --no-create-home \
      --shell /usr/sbin/nologin tessera-coordinator

COPY tessera-coordinator_*.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/tessera-coordinator_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/*.deb

USER 10001:10001
EXPOSE 7443
VOLUME ["/var/lib/tessera-coordinator"]
ENTRYPOINT ["/usr/bin/tessera-coordinator"]
CMD ["serve", "--config", "/etc/tessera/coordinator.toml"]
