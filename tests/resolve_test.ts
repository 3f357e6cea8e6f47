/**
 * Every address of a host name is tried: `localhost` may resolve to `::1`
 * first or only, and the seed's sidecar listens only on `[::1]:8080`.
 */
import assert from "node:assert/strict";
import { httpGet } from "../lib/http_get.ts";
import { createResolver, hostsFileAddresses } from "../lib/resolve.ts";

const HOSTS = `# comment
127.0.0.1\tlocalhost
::1     localhost ip6-localhost ip6-loopback
10.1.2.3 creds.internal creds # trailing comment
fe00::0 ip6-localnet
`;

Deno.test("hostsFileAddresses() lists a name's addresses in file order", () => {
  assert.deepEqual(hostsFileAddresses(HOSTS, "localhost"), ["127.0.0.1", "::1"]);
  assert.deepEqual(hostsFileAddresses(HOSTS, "CREDS"), ["10.1.2.3"]);
  assert.deepEqual(hostsFileAddresses(HOSTS, "comment"), []);
  assert.deepEqual(hostsFileAddresses("", "localhost"), []);
});

Deno.test("createResolver(): literals as they are, the hosts file before DNS, localhost as loopback", async () => {
  const queries: string[] = [];
  const resolve = createResolver({
    hostsFile: () => Promise.resolve(HOSTS),
    resolveDns: (name, type) => {
      queries.push(`${type} ${name}`);
      if (name === "dual.example") {
        return Promise.resolve(type === "AAAA" ? ["2001:db8::1"] : ["192.0.2.1"]);
      }
      return Promise.reject(new Error("NXDOMAIN"));
    },
  });
  assert.deepEqual(await resolve("192.0.2.7"), ["192.0.2.7"]);
  assert.deepEqual(await resolve("[::1]"), ["::1"]);
  assert.deepEqual(await resolve("localhost"), ["127.0.0.1", "::1"]);
  assert.deepEqual(await resolve("dual.example"), ["2001:db8::1", "192.0.2.1"]);
  assert.deepEqual(await resolve("missing.example"), ["missing.example"]);
  assert.deepEqual(queries, [
    "AAAA dual.example",
    "A dual.example",
    "AAAA missing.example",
    "A missing.example",
  ]);
  const noHosts = createResolver({ hostsFile: () => Promise.resolve(undefined) });
  assert.deepEqual(await noHosts("localhost"), ["::1", "127.0.0.1"]);
});

Deno.test("httpGet() tries each address in turn: a server only on ::1 is reached after 127.0.0.1 refuses", async () => {
  const server = Deno.serve(
    { hostname: "::1", port: 0, onListen: () => {} },
    () => new Response("from ::1"),
  );
  const port = server.addr.port;
  try {
    const tried: string[] = [];
    const response = await httpGet(new URL(`http://localhost:${port}/creds`), {
      resolve: (name) => {
        tried.push(name);
        return Promise.resolve(["127.0.0.1", "::1"]);
      },
    });
    assert.equal(response.status, 200);
    assert.equal(new TextDecoder().decode(response.body), "from ::1");
    assert.deepEqual(tried, ["localhost"]);
    // The real [::1] path, through the system resolver.
    const direct = await httpGet(new URL(`http://[::1]:${port}/creds`));
    assert.equal(new TextDecoder().decode(direct.body), "from ::1");
    // Every address refusing: the last error is reported.
    await assert.rejects(
      httpGet(new URL(`http://localhost:${port}/`), {
        resolve: () => Promise.resolve(["127.0.0.1", "127.0.0.2"]),
      }),
      /Connection refused/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("httpGet() sends PUT with an empty body", async () => {
  let seen = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
    seen = `${r.method} ${r.headers.get("content-length")} ${JSON.stringify(await r.text())}`;
    return new Response("token");
  });
  try {
    const response = await httpGet(
      new URL(`http://127.0.0.1:${server.addr.port}/latest/api/token`),
      {
        method: "PUT",
        headers: { "x-aws-ec2-metadata-token-ttl-seconds": "21600" },
      },
    );
    assert.equal(new TextDecoder().decode(response.body), "token");
    assert.equal(seen, 'PUT 0 ""');
  } finally {
    await server.shutdown();
  }
});
