# tessera-agent on Debian 12, installed from the tessera-agent .deb (the
# same package, maintainer scripts and example configuration as a server
# install). The build context is the folder holding the packages:
#
#   cmake --build build --target deb-packages
#   docker build -f deploy/docker/agent.Dockerfile -t tessera-agent:0.1.0 build/packages
#
# Runs as uid/gid 10002; never listens; state (site key, ledger) in
# /var/lib/tessera, which must be a volume so that the key survives the
# container. Mount the configuration and certificates; see
# docs/deployment.md.
FROM debian:12-slim

# The package's postinst finds this user and keeps it, rather than making
# one with whatever system uid is free.
RUN groupadd --system --gid 10002 tessera-agent \
 && useradd --system --uid 10002 --gid tessera-agent \
      --home-dir /var/lib/tessera --no-create-home \
      --shell /usr/sbin/nologin tessera-agent

COPY tessera-agent_*.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/tessera-agent_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/*.deb

USER 10002:10002
VOLUME ["/var/lib/tessera"]
ENTRYPOINT ["/usr/bin/tessera-agent"]
CMD ["run", "--config", "/etc/tessera/agent.toml"]
