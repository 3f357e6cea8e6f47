import assert from "node:assert/strict";
import { probeReadiness, probeUrl } from "../lib/probe.ts";

Deno.test("probeUrl() probes loopback for a wildcard listener and the address otherwise", () => {
  assert.equal(probeUrl("0.0.0.0", 3000).href, "http://127.0.0.1:3000/readyz");
  assert.equal(probeUrl("::", 3000).href, "http://127.0.0.1:3000/readyz");
  assert.equal(probeUrl("127.0.0.2", 9000).href, "http://127.0.0.2:9000/readyz");
  assert.equal(probeUrl("::1", 3000).href, "http://[::1]:3000/readyz");
});

Deno.test("probeReadiness() retries until ready within the wait, and says why it is not", async () => {
  const statuses = [503, 503, 200];
  const calls: string[] = [];
  const result = await probeReadiness(new URL("http://127.0.0.1:1/readyz"), {
    waitMs: 5000,
    retryEveryMs: 1,
    get: (url) => {
      calls.push(url.href);
      const status = statuses.shift()!;
      return Promise.resolve({
        status,
        headers: new Headers(),
        body: new TextEncoder().encode("no credentials written yet\n"),
      });
    },
  });
  assert.deepEqual(result, { ready: true });
  assert.equal(calls.length, 3);

  const once = await probeReadiness(new URL("http://127.0.0.1:1/readyz"), {
    get: () =>
      Promise.resolve({
        status: 503,
        headers: new Headers(),
        body: new TextEncoder().encode("no credentials written yet\n"),
      }),
  });
  assert.deepEqual(once, {
    ready: false,
    reason: "http://127.0.0.1:1/readyz answered 503: no credentials written yet",
  });
});
