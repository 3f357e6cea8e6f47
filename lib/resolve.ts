/**
 * Every address of a host name, in the order a C library resolver would try
 * them: the hosts file first (`files` before `dns`, as nsswitch.conf
 * usually says), then DNS, IPv6 before IPv4. A client connects to each in
 * turn, so a server listening only on `::1` is reached through `localhost`.
 *
 * @module
 */

/** Addresses for a host name, to try in order. */
export type Resolver = (hostname: string) => Promise<string[]>;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Whether `host` is an IP address literal (IPv6 without brackets). */
export function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || host.includes(":");
}

/**
 * The addresses `/etc/hosts`-style `text` gives `hostname`, in file order.
 * Pure.
 */
export function hostsFileAddresses(text: string, hostname: string): string[] {
  const wanted = hostname.toLowerCase();
  const found: string[] = [];
  for (const line of text.split("\n")) {
    const [address, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (address === undefined || address === "" || !isIpLiteral(address)) continue;
    if (names.some((name) => name.toLowerCase() === wanted) && !found.includes(address)) {
      found.push(address);
    }
  }
  return found;
}

/** Options for {@linkcode createResolver}. */
export interface ResolverOptions {
  /** Reads the hosts file; `undefined` when there is none. Default: `/etc/hosts`. */
  readonly hostsFile?: () => Promise<string | undefined>;
  /** DNS lookup of one record type. Default `Deno.resolveDns`. */
  readonly resolveDns?: (hostname: string, type: "A" | "AAAA") => Promise<string[]>;
}

/** A resolver reading the hosts file, then DNS. */
export function createResolver(options: ResolverOptions = {}): Resolver {
  const hostsFile = options.hostsFile ?? readHostsFile;
  const resolveDns = options.resolveDns ?? ((name, type) => Deno.resolveDns(name, type));
  return async (hostname) => {
    const host = hostname.replace(/^\[(.*)\]$/, "$1");
    if (isIpLiteral(host)) return [host];
    const fromFile = hostsFileAddresses(await hostsFile() ?? "", host);
    if (fromFile.length > 0) return fromFile;
    // RFC 6761: localhost is loopback, whatever DNS says.
    if (host === "localhost" || host.endsWith(".localhost")) return ["::1", "127.0.0.1"];
    const lookups = await Promise.all(
      (["AAAA", "A"] as const).map((type) => resolveDns(host, type).catch(() => [] as string[])),
    );
    const addresses = lookups.flat();
    // Nothing found: let the runtime resolve it, and report its error.
    return addresses.length > 0 ? addresses : [host];
  };
}

async function readHostsFile(): Promise<string | undefined> {
  try {
    return await Deno.readTextFile("/etc/hosts");
  } catch {
    return undefined;
  }
}

/** The resolver used unless one is injected. */
export const systemResolver: Resolver = createResolver();
