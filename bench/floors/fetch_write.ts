// First-write floor: one fetch and one file write, nothing else.
// Usage: fetch_write.ts URL PATH
const [url, path] = Deno.args;
if (url === undefined || path === undefined) throw new TypeError("usage: fetch_write.ts URL PATH");
const body = await (await fetch(url)).text();
await Deno.writeTextFile(path, body);
