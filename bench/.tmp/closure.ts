const out = new Deno.Command("deno", {
  args: ["info", "--json", Deno.args[0] ?? "main.ts"],
  stdout: "piped",
}).outputSync();
const info = JSON.parse(new TextDecoder().decode(out.stdout));
const byId = new Map<string, any>();
for (const m of info.modules) byId.set(m.specifier, m);
const redirects = info.redirects ?? {};
const seen = new Set<string>();
const stack = [info.roots[0]];
const npmRoots = new Map<string, string[]>();
while (stack.length) {
  let s = stack.pop()!;
  s = redirects[s] ?? s;
  if (seen.has(s)) continue;
  seen.add(s);
  const m = byId.get(s);
  if (!m) continue;
  for (const d of m.dependencies ?? []) {
    if (d.isDynamic) continue;
    const t = d.code?.specifier;
    if (!t) continue;
    if (t.startsWith("npm:")) {
      const k = t.replace(/^npm:\/?/, "").replace(/(@?[^@/]+(\/[^@/]+)?)@.*/, "$1");
      if (!npmRoots.has(k)) npmRoots.set(k, []);
      npmRoots.get(k)!.push(s.replace(/^.*perf1\//, ""));
    } else stack.push(t);
  }
}
const src = [...seen].filter((s) => s.includes("/src/"));
console.log("static src modules:", src.length);
for (const [k, v] of npmRoots) console.log(k.padEnd(40), v.length, v.slice(0, 4).join(", "));
if (Deno.args[1]) { for (const s of src) console.log(s.replace(/^.*perf1\//, "")); }
