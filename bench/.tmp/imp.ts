const mods = Deno.args;
for (const m of mods) {
  const t = performance.now();
  await import(m);
  console.log(
    m.padEnd(50),
    (performance.now() - t).toFixed(1),
    "ms",
    (Deno.memoryUsage().rss / 1e6).toFixed(1),
    "MB",
  );
}
