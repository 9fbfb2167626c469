/**
 * The server icon in the two forms Dust's hosted server lists (dust.md §1.2): an SVG
 * (`sizes: any`) and a 48×48 PNG. The PNG matters because MCP clients that render icons are only
 * required to support PNG and JPEG, so an SVG-only list leaves some clients with no icon. The
 * PNG is drawn from the same shapes as the SVG once, at first use, with `node:zlib`.
 * @module
 */
import { deflateSync } from "node:zlib";

/** Paths (under the public URL) of the server icons served by the route. */
export const ICON_PATHS = { svg: "/static/mcp/dust.svg", png: "/static/mcp/dust.png" } as const;

const BG = [0x1c, 0x22, 0x2d];
const DOT = [0x41, 0x8b, 0x5c];
const BAR = [0xe2, 0xf7, 0x8c];
const SIZE = 48;

/** The SVG icon: a dark rounded square, a green dot and a pale bar. */
export const DUST_SVG =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48" width="48" height="48"><rect width="48" height="48" rx="10" fill="#1C222D"/><circle cx="17" cy="24" r="7" fill="#418B5C"/><rect x="27" y="17" width="12" height="14" rx="3" fill="#E2F78C"/></svg>`;

/** Inside a rounded rectangle (x, y, w, h, corner radius r)? */
function inRoundRect(
  px: number,
  py: number,
  x: number,
  y: number,
  w: number,
  h: number,
  r: number,
) {
  if (px < x || py < y || px >= x + w || py >= y + h) return false;
  const cx = Math.min(Math.max(px, x + r), x + w - r);
  const cy = Math.min(Math.max(py, y + r), y + h - r);
  return (px - cx) ** 2 + (py - cy) ** 2 <= r * r;
}

/** RGBA of one pixel (sampled at its centre), the same shapes as {@link DUST_SVG}. */
function pixel(x: number, y: number): number[] {
  const px = x + 0.5, py = y + 0.5;
  if (!inRoundRect(px, py, 0, 0, SIZE, SIZE, 10)) return [0, 0, 0, 0];
  if ((px - 17) ** 2 + (py - 24) ** 2 <= 49) return [...DOT, 255];
  if (inRoundRect(px, py, 27, 17, 12, 14, 3)) return [...BAR, 255];
  return [...BG, 255];
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

let png: Uint8Array<ArrayBuffer> | null = null;

/** The 48×48 RGBA PNG icon (built once). */
export function iconPng(): Uint8Array<ArrayBuffer> {
  if (png) return png;
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, SIZE);
  hv.setUint32(4, SIZE);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  const raw = new Uint8Array(SIZE * (1 + SIZE * 4));
  for (let y = 0; y < SIZE; y++) {
    const row = y * (1 + SIZE * 4); // filter byte 0 (none) then the row's pixels
    for (let x = 0; x < SIZE; x++) raw.set(pixel(x, y), row + 1 + x * 4);
  }
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return png = out;
}
