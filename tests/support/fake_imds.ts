/**
 * A fake EC2 instance metadata service, IMDSv2 only, as strict as the real
 * one (and as `aws_signing_helper serve`): a session token is required,
 * the TTL header must be 1 to 21600, `X-Forwarded-For` is refused, a
 * missing, expired or unknown token gets 401, a wrong method 405.
 */

/** A credential set it issued. */
export interface ImdsIssued {
  readonly Code: string;
  readonly LastUpdated: string;
  readonly Type: string;
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly Token: string;
  readonly Expiration: string;
}

/** How it misbehaves; `"none"` for a healthy service. */
export type ImdsFault =
  | "none"
  | "token-500" // the token PUT fails
  | "token-403" // the token PUT is forbidden (IMDSv2 disabled upstream)
  | "empty-roles" // the role list is empty
  | "not-success" // Code "Failure", with credentials fields present
  | "zeroed" // Code "Success" with empty fields and a zero time, as the signing helper once did
  | "hang"; // accepts and never answers

/** One request as it arrived. */
export interface ImdsRequest {
  readonly method: string;
  readonly path: string;
  readonly token: string | null;
  readonly ttl: string | null;
}

/** A running fake. */
export interface FakeImds {
  readonly url: string;
  readonly port: number;
  fault: ImdsFault;
  /** Longest token TTL it grants, in seconds. Default 21600. */
  maxTokenTtlSeconds: number;
  /** Seconds until issued credentials expire. Default 3600. */
  lifetimeSeconds: number;
  readonly roleName: string;
  readonly issued: ImdsIssued[];
  readonly requests: ImdsRequest[];
  /** Tokens handed out, oldest first. */
  readonly tokens: string[];
  /** Forget every token, as after a service restart: the next request with one gets 401. */
  revokeTokens(): void;
  /** Every secret it handed out (session tokens included), for leak checks. */
  secrets(): string[];
  close(): Promise<void>;
}

function random(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(crypto.getRandomValues(new Uint8Array(length)), (b) => alphabet[b % 62]).join(
    "",
  );
}

const CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/";

/** Start the fake on 127.0.0.1, or on `hostname`. */
export function startFakeImds(
  options: { port?: number; hostname?: string; roleName?: string } = {},
): FakeImds {
  const tokens = new Map<string, number>(); // token -> expiry, epoch ms
  const hangs: Array<() => void> = [];
  let counter = 0;
  const text = (status: number, body: string, headers: Record<string, string> = {}) =>
    new Response(body, { status, headers: { "Content-Type": "text/plain", ...headers } });

  const fake: FakeImds = {
    url: "",
    port: 0,
    fault: "none",
    maxTokenTtlSeconds: 21600,
    lifetimeSeconds: 3600,
    roleName: options.roleName ?? "credential-helper-test-role",
    issued: [],
    requests: [],
    tokens: [],
    revokeTokens: () => tokens.clear(),
    secrets: () => [
      ...fake.tokens,
      ...fake.issued.flatMap((c) => [c.SecretAccessKey, c.Token]).filter((s) => s !== ""),
    ],
    close: async () => {
      for (const release of hangs.splice(0)) release();
      await server.shutdown();
    },
  };

  const handler = (request: Request): Response | Promise<Response> => {
    const path = new URL(request.url).pathname;
    const token = request.headers.get("x-aws-ec2-metadata-token");
    const ttl = request.headers.get("x-aws-ec2-metadata-token-ttl-seconds");
    fake.requests.push({ method: request.method, path, token, ttl });
    if (fake.fault === "hang") {
      return new Promise((resolve) => hangs.push(() => resolve(text(503, "gone"))));
    }
    // IMDS refuses anything that went through a proxy.
    if (request.headers.has("x-forwarded-for")) return text(403, "Forbidden");
    if (path === "/latest/api/token") {
      if (request.method !== "PUT") return text(405, "Method Not Allowed", { Allow: "PUT" });
      if (fake.fault === "token-500") return text(500, "Internal Server Error");
      if (fake.fault === "token-403") return text(403, "Forbidden");
      const seconds = Number(ttl);
      if (ttl === null || !/^\d+$/.test(ttl) || seconds < 1 || seconds > 21600) {
        return text(400, "Bad Request");
      }
      const granted = Math.min(seconds, fake.maxTokenTtlSeconds);
      const value = random(56) + "==";
      tokens.set(value, Date.now() + granted * 1000);
      fake.tokens.push(value);
      return text(200, value, { "x-aws-ec2-metadata-token-ttl-seconds": String(granted) });
    }
    if (!path.startsWith(CREDENTIALS_PATH)) return text(404, "Not Found");
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "Method Not Allowed", { Allow: "GET, HEAD" });
    }
    const expiry = token === null ? undefined : tokens.get(token);
    if (expiry === undefined || expiry <= Date.now()) return text(401, "Unauthorized");
    const role = path.slice(CREDENTIALS_PATH.length);
    if (role === "") return text(200, fake.fault === "empty-roles" ? "" : fake.roleName + "\n");
    if (decodeURIComponent(role) !== fake.roleName) return text(404, "Not Found");
    counter++;
    const zeroed = fake.fault === "zeroed";
    const issued: ImdsIssued = {
      Code: fake.fault === "not-success" ? "AssumeRoleUnauthorizedAccess" : "Success",
      LastUpdated: new Date().toISOString(),
      Type: "AWS-HMAC",
      AccessKeyId: zeroed ? "" : `ASIAIMDS${String(counter).padStart(12, "0")}`,
      SecretAccessKey: zeroed ? "" : `imdsSecret${counter}-${random(30)}`,
      Token: zeroed ? "" : `imdsToken${counter}-${random(200)}`,
      Expiration: zeroed
        ? "0001-01-01T00:00:00Z"
        : new Date(Date.now() + fake.lifetimeSeconds * 1000).toISOString().replace(/\.\d+Z$/, "Z"),
    };
    fake.issued.push(issued);
    return new Response(JSON.stringify(issued), {
      headers: { "Content-Type": "text/plain" },
    });
  };

  const server = Deno.serve(
    { hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0, onListen: () => {} },
    handler,
  );
  const port = server.addr.port;
  const host = (options.hostname ?? "127.0.0.1").includes(":")
    ? `[${options.hostname}]`
    : options.hostname ?? "127.0.0.1";
  Object.assign(fake, { url: `http://${host}:${port}`, port });
  return fake;
}
