// ESLint flat config: typescript-eslint's recommended rules over every TypeScript file.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "build/**", "out/**", "reports/**", ".data/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "warn",
    },
  },
  {
    // Firmware must build for Moddable XS: no Node built-ins, no npm packages.
    files: ["firmware/**/*.ts"],
    ignores: ["firmware/**/*.node.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["node:*", "fs", "path", "events", "stream", "child_process", "os", "net", "crypto", "buffer", "util"], message: "firmware runs on XS: no Node built-ins" },
        { regex: "^(?![./]|firmware/|embedded:|mc/|timer$|preference$|time$|text/|crc$)", message: "firmware runs on XS: no npm imports" },
      ] }],
      "no-restricted-globals": ["error", { name: "process", message: "no process on XS" }, { name: "Buffer", message: "no Buffer on XS" }, { name: "require", message: "ESM only" }],
    },
  },
  {
    files: ["bin/**/*.js", "eslint.config.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
  },
  {
    // The console's page script runs in the browser (served as a file, cloud/http/console/assets.ts).
    files: ["cloud/http/console/public/**/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: Object.fromEntries(["window", "document", "console", "fetch", "EventSource", "CustomEvent", "HTMLFormElement", "Element", "CSS", "URL"].map((g) => [g, "readonly"])),
    },
  },
  {
    // dependency-cruiser reads a CommonJS config.
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { module: "writable", require: "readonly" } },
  },
);
