/**
 * The console's CSS and page script, served as files from this origin (the console's CSP allows
 * scripts and styles only from here): read once at start, sent with a strong ETag.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import express, { type Router } from "express";

const ASSETS: Record<string, string> = { "console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8" };

export function consoleAssetsRouter(): Router {
  const router = express.Router();
  for (const [name, type] of Object.entries(ASSETS)) {
    const body = readFileSync(new URL(`./public/${name}`, import.meta.url));
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    router.get(`/console/assets/${name}`, (req, res) => {
      res.setHeader("Content-Type", type);
      res.setHeader("ETag", etag);
      res.setHeader("Cache-Control", "no-cache");
      res.setHeader("Content-Security-Policy", "default-src 'none'");
      if (req.headers["if-none-match"] === etag) return void res.status(304).end();
      res.send(body);
    });
  }
  return router;
}
