# ctverify: one image for the scheduled audit on Lambda (deploy/aws-scheduled-audit/), the
# Kubernetes Indexed Job (deploy/k8s-indexed-job.yaml) and AWS Batch
# (deploy/aws-batch-job-definition.json).
#
#   docker build -t ctverify:VERSION .                       # this machine's architecture
#   docker build --platform linux/arm64 -t ctverify:VERSION . # for Architecture=arm64
#
# Its entrypoint is the command line (`docker run ctverify:VERSION --trail ARN --from DATE`);
# the Lambda function runs the handler beside it, ctverify-lambda (the template's
# ImageConfig.EntryPoint). Both are dynamically linked against glibc: they are built on Debian 12
# (bookworm) and run on distroless's Debian 12 image, the same C library, plus the CA
# certificates the AWS SDK trusts. The runtime image has no shell and no package manager, runs as
# the distroless "nonroot" user (65532, as the manifests' runAsUser and user), and writes
# nothing outside /tmp, so a read-only root file system works (Lambda mounts /tmp writable; the
# manifests mount a tmpfs or emptyDir there).
#
# Pin the base images by digest for a reproducible build (docker buildx imagetools inspect).
# Should the bookworm build image be retired, move both stages together (rust:1.95-slim-trixie
# with gcr.io/distroless/cc-debian13): the rule is the same Debian release, so the same glibc.

FROM rust:1.95-slim-bookworm AS build
# aws-lc-sys (the SDK's TLS) builds C with cmake; mimalloc with the C compiler the image has.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p cloudtrail-verify-cli -p cloudtrail-verify-lambda \
 && install -D -m 0755 target/release/ctverify /out/ctverify \
 && install -D -m 0755 target/release/ctverify-lambda /out/ctverify-lambda

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ctverify /usr/local/bin/ctverify
COPY --from=build /out/ctverify-lambda /usr/local/bin/ctverify-lambda
USER 65532:65532
ENV TMPDIR=/tmp
ENTRYPOINT ["/usr/local/bin/ctverify"]
CMD ["--help"]
