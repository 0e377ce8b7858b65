# Weir container image: built with the same scripts/build that CI runs,
# shipped on bookworm-slim with only the shared libraries.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
RUN apt-get update && scripts/deps && scripts/build && \
    strip build/weir build/weirctl build/weir-demo-backend

FROM debian:bookworm-slim
RUN apt-get update && \
    apt-get install -y --no-install-recommends libev4 libssl3 \
        libhttp-parser2.9 libyaml-0-2 && \
    rm -rf /var/lib/apt/lists/* && \
    useradd --system --no-create-home --shell /usr/sbin/nologin weir
COPY --from=build /src/build/weir /src/build/weirctl /usr/local/bin/
COPY conf/weir.yaml /etc/weir/weir.yaml
# The default configuration names ../certs/: the build's throwaway demo
# material. Mount your own certificates and key over /etc/certs.
COPY --from=build /src/certs /etc/certs
USER weir
EXPOSE 8080
STOPSIGNAL SIGTERM
# Mount your own /etc/weir/weir.yaml: the default binds 127.0.0.1, which is
# only reachable from inside the container.
ENTRYPOINT ["/usr/local/bin/weir", "-c", "/etc/weir/weir.yaml"]
