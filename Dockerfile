# ignis-agent container image: a static-ish release binary on distroless.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ignis-agent

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/ignis-agent /usr/local/bin/ignis-agent
COPY config.yaml /etc/ignis-agent/config.yaml
USER nonroot
EXPOSE 4317 4318 13133
ENTRYPOINT ["/usr/local/bin/ignis-agent", "--config", "/etc/ignis-agent/config.yaml"]
