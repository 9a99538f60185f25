/** (issue 18) — being written. */
import express, { type Router } from "express";
import type { AppDeps } from "../deps";

export function consoleEntryRouter(_d: AppDeps): Router {
  return express.Router();
}
