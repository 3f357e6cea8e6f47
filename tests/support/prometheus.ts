/**
 * A strict reader of the Prometheus text exposition format, enough to check
 * our /metrics: every sample must follow a `# HELP` and `# TYPE` for its
 * metric, names and labels must be well formed, values must be numbers.
 *
 * @module
 */

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/**
 * Parse exposition text into a map from `name{labels}` to value.
 *
 * @throws {SyntaxError} on any line that breaks the format
 */
export function parsePrometheus(text: string): Map<string, number> {
  if (!text.endsWith("\n")) throw new SyntaxError("exposition must end with a newline");
  const samples = new Map<string, number>();
  const helped = new Set<string>();
  const typed = new Map<string, string>();
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) {
      const name = line.slice(7).split(" ")[0] ?? "";
      if (!NAME.test(name)) throw new SyntaxError(`bad HELP line: ${line}`);
      helped.add(name);
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [name = "", type = "", ...rest] = line.slice(7).split(" ");
      if (!NAME.test(name) || !TYPES.has(type) || rest.length > 0) {
        throw new SyntaxError(`bad TYPE line: ${line}`);
      }
      if (typed.has(name)) throw new SyntaxError(`second TYPE for ${name}`);
      typed.set(name, type);
      continue;
    }
    const match = SAMPLE.exec(line);
    if (match === null) throw new SyntaxError(`bad sample line: ${JSON.stringify(line)}`);
    const [, name = "", labels = "", value = ""] = match;
    if (!helped.has(name) || !typed.has(name)) {
      throw new SyntaxError(`sample before HELP/TYPE: ${line}`);
    }
    if (typed.get(name) === "counter" && !name.endsWith("_total")) {
      throw new SyntaxError(`counter without _total: ${name}`);
    }
    const key = name + labels;
    if (samples.has(key)) throw new SyntaxError(`duplicate sample ${key}`);
    samples.set(key, Number(value));
  }
  return samples;
}
