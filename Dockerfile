# advanced-backend container image: built on Debian 12 from Debian packages only; runs as non-root on a
# read-only root filesystem with a /tmp volume (SPEC §11.3 "Deployment").
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
RUN ci/install-deps && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j"$(nproc)" --target advanced-backend

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        libh2o-evloop0.13 libjansson4 libsqlite3-0 libcurl4 libyaml-0-2 ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 --home /nonexistent abe
COPY --from=build /src/build/bin/advanced-backend /usr/local/bin/advanced-backend
COPY conf /etc/advanced-backend
ENV DB_PATH=/tmp/advanced-backend/platform.db AGENTS_CONFIG_DIR=/etc/advanced-backend
USER abe
VOLUME ["/tmp"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=6s CMD ["/usr/local/bin/advanced-backend", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/advanced-backend", "run", "--config", "/etc/advanced-backend/advanced-backend.yaml"]
