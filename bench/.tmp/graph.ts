// which src modules statically pull a given npm package
const out = new Deno.Command("deno", { args: ["info", "--json", "../../main.ts"], stdout: "piped" })
  .outputSync();
const info = JSON.parse(new TextDecoder().decode(out.stdout));
const target = Deno.args[0];
const byId = new Map<string, any>();
for (const m of info.modules) byId.set(m.specifier, m);
for (const m of info.modules) {
  if (!m.specifier.includes("/src/")) continue;
  for (const d of m.dependencies ?? []) {
    const s = d.code?.specifier ?? "";
    if (s.includes(target)) console.log(m.specifier.replace(/^.*perf1\//, ""), "->", s);
  }
}
let n = 0, size = 0;
for (const m of info.modules) {
  if (m.specifier.includes("/src/")) {
    n++;
    size += m.size ?? 0;
  }
}
console.log(
  "src modules",
  n,
  "bytes",
  size,
  "total modules",
  info.modules.length,
  "npm pkgs",
  Object.keys(info.npmPackages ?? {}).length,
);
console.log(Object.keys(info.npmPackages ?? {}).join(" "));
