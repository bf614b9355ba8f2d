# syntax=docker/dockerfile:1
# Images of the two Fjord binaries, built from one stage:
#
#   docker build --target fjord-broker   -t ghcr.io/fjord/fjord-broker:0.1.0 .
#   docker build --target fjord-operator -t ghcr.io/fjord/fjord-operator:0.1.0 .
#
# The charts' default image names are these, tagged with the chart's appVersion.
# Runtime images are distroless, run as the non-root user 65532 (the uid the
# operator's StatefulSet and the chart's Deployment expect) and hold nothing but
# the binary and the C runtime it links against.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p fjord-broker -p fjord-operator \
 && mkdir -p /out \
 && cp target/release/fjord-broker target/release/fjord-operator /out/

FROM gcr.io/distroless/cc-debian12:nonroot AS fjord-broker
COPY --from=build /out/fjord-broker /usr/local/bin/fjord-broker
USER 65532:65532
# Kafka listener, HTTP admin (/livez, /readyz, /metrics).
EXPOSE 9092 9644
ENTRYPOINT ["/usr/local/bin/fjord-broker"]

FROM gcr.io/distroless/cc-debian12:nonroot AS fjord-operator
COPY --from=build /out/fjord-operator /usr/local/bin/fjord-operator
USER 65532:65532
# /metrics, /livez, /readyz.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fjord-operator"]
CMD ["run"]
