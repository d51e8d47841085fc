# ignis-agent's image for machines that reach Docker Hub: builds the binary
# with deploy/build-binary.sh in a Rust image, then the same image as
# Containerfile (which CI builds from a binary made beforehand).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN deploy/build-binary.sh

FROM scratch
COPY --from=build /src/target/dist/ignis-agent /usr/local/bin/ignis-agent
COPY config.yaml /etc/ignis-agent/config.yaml
COPY --chown=65532:65532 deploy/image/queue/ /var/lib/ignis-agent/
ENV IGNIS_QUEUE_DIR=/var/lib/ignis-agent/queue
VOLUME /var/lib/ignis-agent
USER 65532:65532
WORKDIR /var/lib/ignis-agent
EXPOSE 4317 4318 13133
ENTRYPOINT ["/usr/local/bin/ignis-agent"]
CMD ["--config", "/etc/ignis-agent/config.yaml"]
