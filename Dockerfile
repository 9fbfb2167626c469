# dust-mcp container image: the single binary from `deno task compile` on a small glibc base.
#
#   docker build -t dust-mcp .
#   docker run -p 4310:4310 -v dust-mcp-data:/data \
#     -e DUST_MCP_PUBLIC_URL=https://mcp.example.com dust-mcp
#
# Configuration is the same as on the command line (see README.md): every setting has a
# DUST_MCP_* environment variable, and arguments after the image name replace the default
# `serve`, e.g. `docker run ... dust-mcp --region eu` (then publish port 4320), or run an
# operator command on the same /data: `docker exec <container> dust-mcp api-keys create ...`.
# DUST_MCP_PUBLIC_URL must be the origin clients use: it is the OAuth issuer and the base of
# the MCP resource URL, so set it whenever the server sits behind a proxy or another host name.

# --- build: compile with the same Deno as development and CI -----------------------------
FROM denoland/deno:2.9.6 AS build
WORKDIR /app
COPY deno.json deno.lock ./
COPY main.ts ./
COPY src ./src
# The task compiles with explicit permissions (never -A) and writes ./dust-mcp.
RUN deno task compile
# An empty directory to become /data, owned by the runtime user (distroless has no shell).
RUN mkdir -p /empty-data

# --- runtime: glibc + libgcc only, no shell, no package manager -----------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /app/dust-mcp /usr/local/bin/dust-mcp
COPY --from=build --chown=65532:65532 /empty-data /data
# 65532 is distroless's "nonroot" user; the server never needs root.
USER 65532:65532
VOLUME /data
# Defaults as environment variables (not flags), so every command, `docker exec` included,
# uses /data, and `-e` can still override them.
ENV DUST_MCP_DATA_DIR=/data DUST_MCP_HOST=0.0.0.0
# 4310 is the us region's default port, 4320 the eu region's.
EXPOSE 4310 4320
ENTRYPOINT ["/usr/local/bin/dust-mcp"]
CMD ["serve"]
# No shell or curl here: the binary asks its own /healthz (same settings, so the same port).
HEALTHCHECK --interval=30s --timeout=6s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/dust-mcp", "healthcheck"]
