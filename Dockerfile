# Weir container image.
#
#   docker build -t weir .
#   docker run -d --name weir -p 8080:8080 --stop-timeout 35 \
#       -v $PWD/weir.yaml:/etc/weir/weir.yaml:ro weir
#
# The build stage runs the scripts CI runs (scripts/deps, scripts/build), so
# a green CI proves these steps; the runtime stage carries only the shared
# libraries. See README "Container".

FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
# scripts/build runs scripts/deps (apt-get install of the -dev packages) and
# builds with -Werror exactly as .ci/run does, tests included.
RUN scripts/deps && scripts/build && \
    strip build/weir build/weirctl build/weir-demo-backend

FROM debian:bookworm-slim
# Only the shared libraries weir and weirctl link against. A fixed uid, so
# Kubernetes' runAsUser and mounted files can name it.
RUN apt-get update && \
    apt-get install -y --no-install-recommends libev4 libssl3 \
        libhttp-parser2.9 libyaml-0-2 && \
    apt-get clean && rm -rf /var/lib/apt/lists/* && \
    groupadd --system --gid 10001 weir && \
    useradd --system --uid 10001 --gid weir --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin weir && \
    install -d -o weir -g weir -m 0750 /run/weir
# weir-demo-backend is the README's try-it upstream (a few hundred KB);
# weir never runs it.
COPY --from=build /src/build/weir /src/build/weirctl \
     /src/build/weir-demo-backend /usr/local/bin/
# The default configuration serves the README's demo network; mount your
# own over it. No key material is baked in: mount certificates and keys.
COPY conf/container.yaml /etc/weir/weir.yaml
ENV WEIR_SOCKET=/run/weir/admin.sock
USER weir
# The listeners of conf/container.yaml (8443 once its TLS block is on).
EXPOSE 8080 8443
# SIGTERM is weir's graceful stop: /health turns 503, the listeners close,
# in-flight requests finish, exit by connection_draining.timeout. Give
# `docker stop -t` / `--stop-timeout` more than that timeout (default 10 s).
STOPSIGNAL SIGTERM
# Reload: docker kill -s HUP CONTAINER (re-reads /etc/weir/weir.yaml).
#
# The health check asks weir's GET /health over its admin socket with the
# weirctl of the image (exit 0 while serving, 1 once a graceful stop has
# begun). The image has no curl, and /health over TCP would need an admin
# TCP listener, which needs an API key file mounted.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["weirctl", "health"]
ENTRYPOINT ["/usr/local/bin/weir", "-c", "/etc/weir/weir.yaml"]
