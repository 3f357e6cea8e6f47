# credential-helper: one static-ish binary from `deno compile`, run as non-root
# on distroless. Deno's binary needs glibc and libgcc_s, hence distroless/cc
# (distroless/static and /base lack libgcc_s).
#
#   make image        # passes DENO_VERSION from package.json
ARG DENO_VERSION=2.9.6

FROM denoland/deno:debian-${DENO_VERSION} AS build
# Same V8 flags as `make build` (chosen by `make bench`; see README "Footprint").
ARG V8_FLAGS="--v8-flags=--jitless,--lite-mode"
WORKDIR /src
# Only what the program is built from: no package.json, so no npm install.
COPY deno.json main.ts ./
COPY lib/ lib/
# -P: the "default" permission set from deno.json, exactly what the tests run
# with. --no-npm: nothing from npm is embedded. --no-code-cache: the binary
# never writes a cache, so it runs on a read-only root file system.
RUN deno compile -P --no-npm --no-code-cache ${V8_FLAGS} --output /out/credential-helper main.ts \
 && /out/credential-helper --version

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="credential-helper" \
      org.opencontainers.image.description="Keeps AWS shared credential files fresh from a container credentials endpoint or IMDSv2" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/credential-helper/credential-helper"
COPY --from=build /out/credential-helper /usr/local/bin/credential-helper
# The default files are /home/nonroot/.aws/{credentials,config}: mount the
# shared volume there, as a directory.
ENV HOME=/home/nonroot
USER 65532:65532
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/credential-helper", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/credential-helper"]
CMD ["run"]
