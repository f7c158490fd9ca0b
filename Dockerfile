# The operator's image: the release binary on a distroless base with glibc
# (the binary links only glibc and libgcc_s; TLS is rustls), running as 65532.
# A test builds the binary with the same command and checks both.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The commit the image is built from (.git is not in the build context; the
# binary never reads a checkout), for
# the metric meetingbot_operator_build_info: docker build --build-arg GIT_SHA=$(git rev-parse --short=12 HEAD)
ARG GIT_SHA=unknown
ENV MEETINGBOT_GIT_SHA=${GIT_SHA}
COPY . .
RUN cargo build --release --locked --bin meetingbot-operator

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG GIT_SHA=unknown
LABEL org.opencontainers.image.title="meetingbot-operator" \
      org.opencontainers.image.description="Kubernetes operator that puts LemonSlice avatars into Zoom, Google Meet, Microsoft Teams and Webex meetings" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.vendor="LemonSlice" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.source="https://github.com/lemonslice/meetingbot-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/release/meetingbot-operator /meetingbot-operator
USER 65532:65532
ENTRYPOINT ["/meetingbot-operator"]
CMD ["run"]
