/**
 * The layout's import rules, checked by `npm run check:imports` (part of `npm test`):
 * no import circle anywhere in the project's own code.
 */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import circle ties two modules into one room: move what both need into a module of its own.",
      from: { pathNot: "^node_modules" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|build|\\.data|reports)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json"] },
  },
};
